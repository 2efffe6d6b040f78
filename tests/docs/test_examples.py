"""The README's parity example is a real test file; run it as a user would."""

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_readme_parity_example_passes_under_pytest():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(EXAMPLES / "test_my_model_parity.py"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=EXAMPLES,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
