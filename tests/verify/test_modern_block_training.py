"""A MobileNetV3/EfficientNet-style block written once in the spec API (1x1 expansion,
depthwise 3x3, squeeze-and-excitation gate with HardSigmoid, HardSwish and SiLU, a
residual Add, LayerScale) trains with level-4 parity in every installed framework: losses,
weights and BatchNorm statistics after ten SGD and ten Adam steps within the bounds derived
from float64, then exports clean ONNX from every backend (native vs ORT)."""

from __future__ import annotations

import pytest

import triptych
from triptych.common import spec as S
from triptych.verify.engine import run_parity
from triptych.verify.training import training_parity


def _mobile_block() -> S.ModelSpec:
    x = S.Input((1, 8, 8))
    h = S.HardSwish()(S.BatchNorm()(S.Conv2d(8, 3, padding=1, bias=False)(x)))
    e = S.HardSwish()(S.BatchNorm()(S.Conv2d(16, 1, bias=False)(h)))
    d = S.SiLU()(S.BatchNorm()(S.Conv2d(16, 3, padding=1, groups=16, bias=False)(e)))
    gate = S.Conv2d(4, 1)(S.GlobalAvgPool(keepdims=True)(d))
    gate = S.HardSigmoid()(S.Conv2d(16, 1)(S.ReLU()(gate)))
    p = S.BatchNorm()(S.Conv2d(8, 1, bias=False)(S.Mul()([d, gate])))
    y = S.Add()([h, S.LayerScale(0.5)(p)])
    logits = S.Dense(10)(S.GlobalAvgPool()(y))
    return S.single(S.Network("net", inputs=x, outputs=logits), "mobile_block")


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.1), ("adam", 1e-3)])
def test_the_block_trains_alike_everywhere(optimizer, lr):
    fws = triptych.frameworks()
    if len(fws) < 2:
        pytest.skip(f"training parity compares two frameworks; installed: {fws}")
    run, checks = training_parity(_mobile_block(), fws, steps=10, lr=lr, optimizer=optimizer)
    failed = [c for c in checks if c.gating and not c.passed]
    assert not failed, "\n".join(str(c.comparison)[:800] for c in failed[:3])
    assert {c.network for c in checks} >= {"loss", "weights", "bn_stats"}
    assert run.losses[fws[0]][-1] < run.losses[fws[0]][0]  # it learns on the digits


def test_the_block_exports_from_every_backend(tmp_path):
    report = run_parity(_mobile_block(), triptych.frameworks(), batches=(2,), train_steps=0,
                        reference=True, out_dir=tmp_path)  # fmt: skip
    failed = [c for c in report.checks if c.gating and not c.passed]
    assert not failed, "\n".join(str(c.comparison)[:800] for c in failed[:3])
    assert {c.level for c in report.checks} >= {1, 2}
