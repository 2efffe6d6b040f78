import json
import subprocess
import sys

from triptych.cli import main


def test_models_lists_the_zoo_with_params(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "conv_autoencoder" in out and "42,337" in out  # gan generator params


def test_info_reports_frameworks_and_providers(tmp_path, capsys):
    assert main(["info", "--no-peak", "--json", str(tmp_path / "info.json")]) == 0
    facts = json.loads((tmp_path / "info.json").read_text())
    assert "CPUExecutionProvider" in facts["ort_available_providers"]
    assert set(facts["frameworks"]) == {"torch", "tensorflow", "mxnet"}
    for fw in facts["frameworks"].values():
        assert fw["available"] or "pip install" in fw["reason"]


def test_usage_errors_exit_2_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "triptych.cli", "run", "-f", "jax"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "unknown framework 'jax'" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "triptych.cli", "nosuch"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_tour_with_one_framework_names_the_absent_ones(tmp_path, capsys):
    assert main(["run", "--frameworks", "torch", "--out", str(tmp_path)]) == 0
    runs = [p for p in tmp_path.iterdir()]
    assert len(runs) == 1 and not runs[0].name.startswith(".")
    results = json.loads((runs[0] / "results.json").read_text())
    assert results["frameworks"] == ["torch"]
    assert results["absent"]["mxnet"] == "not selected (--frameworks)"
    assert "absent: **tensorflow**" in (runs[0] / "report.md").read_text()
