"""Every zoo model exports (default exporter) and passes the parity matrix through the CLI
with its default levels (reference evaluator and training parity included; two training
steps and batches 1 and 3 to keep the suite's time). ResNet-18 and MobileNetV2 (about 100 s
each in six frameworks) run in the sweep tier, which CI runs after make test."""

import pytest
from zoo_commands import MODELS, read_json, run_ok

from triptych.common import zoo

HEAVY = {"resnet18", "mobilenet_v2"}


@pytest.mark.parametrize(
    "name", [pytest.param(m, marks=pytest.mark.sweep) if m in HEAVY else m for m in MODELS]
)
def test_export_then_parity(name, tmp_path, capsys):
    run_ok(["export", name, "--out", str(tmp_path / "onnx")], capsys)
    files = sorted(p.name for p in (tmp_path / "onnx").glob("*.onnx"))
    assert files == sorted(f"{name}.{n}.torch.onnx" for n in zoo.create_spec(name).networks)
    args = ["parity", name, "--train-steps", "2", "--batch", "1,3", "--out", str(tmp_path / "p")]
    run_ok([*args, "--json", str(tmp_path / "p.json")], capsys)
    report = read_json(tmp_path / "p.json")
    assert report["passed"] and {c["level"] for c in report["checks"]} >= {1, 2, 3, 4}
