"""The sweep tier (``make test-sweep``, run by CI after ``make test``): ``triptych parity
MODEL`` with its default flags, and with ``--optimizer adam``, passes for every zoo model in
every installed framework, judged by the bounds derived from float64 (no per-model bound
exists), and prints each framework's distance to its float64 oracle. Too slow for ``make
test`` (ResNet-18 and the U-Net train 20 steps in five frameworks, twice precise)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import triptych
from triptych.cli import main

pytestmark = pytest.mark.sweep


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("model", triptych.models())
def test_parity_with_default_flags_passes(model, optimizer, tmp_path, capsys):
    out = tmp_path / "report.json"
    # its own --out: two workers running the same model would share runs/parity/<model>
    args = ["parity", model, "--json", str(out), "--out", str(tmp_path / "parity")]
    if optimizer != "sgd":
        args += ["--optimizer", optimizer]
    code = main(args)
    captured = capsys.readouterr()
    printed = captured.out
    assert out.exists(), f"exit {code}, no report:\n{(printed + captured.err)[-4000:]}"
    report = json.loads(out.read_text())
    failed = [c for c in report["checks"] if c.get("gating", True) and not c["passed"]]
    assert code == 0 and not failed, printed[-4000:]
    assert set(report["frameworks"]) == set(triptych.frameworks())
    levels = {c["level"] for c in report["checks"]}
    assert {1, 2, 3, 4} <= levels
    assert any(c.get("oracle") for c in report["checks"]), "no float64 distance reported"
    assert "f64" in printed  # the table shows each side's distance to its float64 oracle


def _level5_mobilenet(sync_bn: bool):
    from triptych.common import zoo
    from triptych.verify.checks import ParityReport
    from triptych.verify.data_parallel import add_level5

    spec = zoo.create_spec("mobilenet_v2")
    fws = triptych.frameworks()
    report = ParityReport("mobilenet_v2", spec.hash, fws)
    add_level5(report, spec, fws, 2, 3, sync_bn=sync_bn)
    return fws, report


def test_mobilenet_v2_level5_data_parallel():
    """Level 5 on the zoo's MobileNetV2 (1x28x28, so the UCI digits at 28x28): two workers
    on the engine's own launcher against one process, three SGD steps, in every framework
    with a data-parallel engine here (Chainer's needs MPI: skipped with why). Its BatchNorm
    statistics are per worker, a different computation from one process's, so the
    differences are reported apart (per convention), and must be finite numbers."""
    fws, report = _level5_mobilenet(sync_bn=False)
    assert report.checks and all(c.level == 5 for c in report.checks)
    assert {c.network for c in report.checks} >= {"loss", "weights", "bn_stats"}
    assert all(np.isfinite(c.max_abs) for c in report.checks)
    checked = {c.a.framework for c in report.checks}
    skipped = " ".join(report.skipped)
    assert all(fw in checked or f"level 5 on {fw}:" in skipped for fw in fws), report.skipped


@pytest.mark.xfail(strict=True, reason="found 2026-12-07: TensorFlow's synchronised BatchNorm "
                   "on MobileNetV2 departs from one process by 0.165 in loss from step 1 "
                   "(the conv classifier's passes); not yet explained")  # fmt: skip
def test_mobilenet_v2_level5_with_synchronised_batchnorm_gates():
    """With Keras' synchronised BatchNorm the two-worker run is the one-process computation,
    so its level-5 checks gate."""
    if "tensorflow" not in triptych.frameworks():
        pytest.skip("TensorFlow (the engine with a synchronised BatchNorm) is not installed")
    _, report = _level5_mobilenet(sync_bn=True)
    failed = [c for c in report.checks if c.gating and not c.passed]
    assert not failed, [(c.note, c.comparison.failures()) for c in failed]
