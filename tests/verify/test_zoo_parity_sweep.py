"""The sweep tier (``make test-sweep``, run by CI after ``make test``): ``triptych parity
MODEL`` with its default flags, and with ``--optimizer adam``, passes for every zoo model in
every installed framework, judged by the bounds derived from float64 (no per-model bound
exists), and prints each framework's distance to its float64 oracle. Too slow for ``make
test`` (ResNet-18 and the U-Net train 20 steps in five frameworks, twice precise)."""

from __future__ import annotations

import json

import pytest

import triptych
from triptych.cli import main

pytestmark = pytest.mark.sweep


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("model", triptych.models())
def test_parity_with_default_flags_passes(model, optimizer, tmp_path, capsys):
    out = tmp_path / "report.json"
    args = ["parity", model, "--json", str(out)]
    if optimizer != "sgd":
        args += ["--optimizer", optimizer]
    code = main(args)
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    failed = [c for c in report["checks"] if c.get("gating", True) and not c["passed"]]
    assert code == 0 and not failed, printed[-4000:]
    assert set(report["frameworks"]) == set(triptych.frameworks())
    levels = {c["level"] for c in report["checks"]}
    assert {1, 2, 3, 4} <= levels
    assert any(c.get("oracle") for c in report["checks"]), "no float64 distance reported"
    assert "f64" in printed  # the table shows each side's distance to its float64 oracle


def test_mobilenet_v2_level5_data_parallel():
    """Level 5 on the zoo's MobileNetV2 (1x28x28, so the UCI digits at 28x28): two workers
    on the engine's own launcher against one process, three SGD steps, in every framework
    with a data-parallel engine here (per-worker BatchNorm statistics reported apart)."""
    from triptych.common import zoo
    from triptych.verify.checks import ParityReport
    from triptych.verify.data_parallel import add_level5

    spec = zoo.create_spec("mobilenet_v2")
    report = ParityReport("mobilenet_v2", spec.hash, triptych.frameworks())
    add_level5(report, spec, triptych.frameworks(), 2, 3)
    gating = [c for c in report.checks if c.gating]
    assert gating and all(c.level == 5 for c in gating)
    failed = [c for c in gating if not c.passed]
    assert not failed, [(c.note, c.comparison.failures()) for c in failed]
    checked = {c.a.framework for c in gating}
    unchecked = {s.split(" on ")[1].split(":")[0] for s in report.skipped}
    assert checked | unchecked == set(triptych.frameworks()), report.skipped
