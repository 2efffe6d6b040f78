"""The tiny Vision Transformer written once in the spec API (`triptych.common.zoo_vit`:
patch embedding, class token, position embedding, pre-norm multi-head attention blocks with
a GELU MLP and Dropout) trains with level-4 parity in every installed framework, on the
8x8 digits (16 tokens of 2x2 patches, two blocks): losses and weights after ten SGD and ten
Adam steps, Dropout's masks exact, within the bounds derived from float64; and it exports
clean ONNX from every backend (native vs ORT, ORT vs the reference evaluator)."""

from __future__ import annotations

import pytest

import triptych
from triptych.common.zoo_vit import vit_tiny
from triptych.verify.engine import run_parity
from triptych.verify.training import training_parity


def _vit():
    return vit_tiny((1, 8, 8), width=32, depth=2, heads=4, mlp=64, dropout=0.1)


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.1), ("adam", 1e-3)])
def test_vit_trains_alike_everywhere(optimizer, lr):
    fws = triptych.frameworks()
    if len(fws) < 2:
        pytest.skip(f"training parity compares two frameworks; installed: {fws}")
    run, checks = training_parity(_vit(), fws, steps=10, lr=lr, optimizer=optimizer)
    failed = [c for c in checks if c.gating and not c.passed]
    assert not failed, "\n".join(str(c.comparison)[:800] for c in failed[:3])
    assert {c.network for c in checks} >= {"loss", "weights"}
    assert len(run.losses[fws[0]]) == 10


def test_vit_exports_from_every_backend(tmp_path):
    report = run_parity(_vit(), triptych.frameworks(), batches=(2,), train_steps=0,
                        reference=True, out_dir=tmp_path)  # fmt: skip
    failed = [c for c in report.checks if c.gating and not c.passed]
    assert not failed, "\n".join(str(c.comparison)[:800] for c in failed[:3])
    assert {c.level for c in report.checks} >= {1, 2}
