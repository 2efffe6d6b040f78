"""The tour (`make run`): one framework, the report opens in headless Chromium with every
image present, and Ctrl-C leaves no half-written report."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from triptych.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NO_CHROMIUM = "Chromium not installed (apt-get install chromium) for the headless screenshot"


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    fw = "torch" if "torch" in __import__("triptych").frameworks() else None
    if fw is None:
        pytest.skip(reason="the single-framework tour test uses torch, which is not installed")
    out = tmp_path_factory.mktemp("runs")
    assert main(["run", "--frameworks", fw, "--out", str(out)]) == 0
    runs = list(out.iterdir())
    assert len(runs) == 1 and not runs[0].name.startswith(".")
    return runs[0]


def test_tour_with_one_framework_names_the_absent_ones(tour):
    results = json.loads((tour / "results.json").read_text())
    assert results["frameworks"] == ["torch"]
    assert results["absent"]["mxnet"] == "not selected (--frameworks)"
    assert "absent: tensorflow: not selected" in (tour / "report.md").read_text()
    assert results["serving"].get("exact", True)
    assert results["passed"] and all(row["passed"] for row in results["parity"])
    assert {row["model"] for row in results["parity"]} >= {"gan", "resnet18", "unet"}
    page = (tour / "report.html").read_text()
    assert "http://" not in page.replace("http://127.0.0.1", "") and "https://" not in page
    assert page.count("data:image/png;base64,") >= 10


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_report_renders_in_headless_chromium(tour, tmp_path):
    shot = tmp_path / "report.png"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,4000",
        f"--screenshot={shot}",
        (tour / "report.html").as_uri(),
    ]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.exists() and shot.stat().st_size > 50_000


def test_interrupt_leaves_no_partial_report(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "triptych.cli",
            "run",
            "--frameworks",
            "torch",
            "--out",
            str(tmp_path),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(tmp_path.glob(".*.partial")):
        time.sleep(0.2)
    time.sleep(2.0)  # well inside the run
    proc.send_signal(signal.SIGINT)
    proc.wait(120)
    err = proc.stderr.read().decode(errors="replace")
    left = sorted(p.name for p in tmp_path.rglob("*"))
    assert left == [], (left, err[-2000:])
    # 130 from triptych's handler; a framework's own SIGINT hook can turn the same exit
    # into "killed by SIGINT" (-2) after triptych has cleaned up and said so
    assert proc.returncode in (130, -signal.SIGINT), err[-2000:]
    assert "interrupted" in err
