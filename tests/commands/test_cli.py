import json
import subprocess
import sys

from triptych.cli import main
from triptych.frameworks.base import FRAMEWORKS


def test_models_lists_the_zoo_with_params(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "conv_autoencoder" in out and "42,337" in out  # gan generator params


def test_info_reports_frameworks_and_providers(tmp_path, capsys):
    assert main(["info", "--no-peak", "--json", str(tmp_path / "info.json")]) == 0
    facts = json.loads((tmp_path / "info.json").read_text())
    assert "CPUExecutionProvider" in facts["ort_available_providers"]
    assert set(facts["frameworks"]) == set(FRAMEWORKS)
    for fw in facts["frameworks"].values():
        assert fw["available"] or "pip install" in fw["reason"]


def test_usage_errors_exit_2_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "triptych.cli", "run", "-f", "paddle"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "unknown framework 'paddle'" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "triptych.cli", "nosuch"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
