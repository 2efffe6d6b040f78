"""`triptych train --workers N` refusals: exit 2 with one line, before any process starts."""

from __future__ import annotations

import pytest

from triptych.cli import main
from triptych.frameworks.base import unavailable_reason


def test_workers_with_resume_is_refused(tmp_path, capsys) -> None:
    if unavailable_reason("torch") is not None:
        pytest.skip("torch is not installed")
    argv = ["train", "autoencoder", "-f", "torch", "--workers", "2", "--resume"]
    assert main([*argv, "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--workers does not combine with --resume" in err


def test_workers_on_a_gan_is_refused(tmp_path, capsys) -> None:
    if unavailable_reason("torch") is not None:
        pytest.skip("torch is not installed")
    argv = ["train", "gan", "-f", "torch", "--workers", "2", "--steps", "1"]
    assert main([*argv, "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "without a discriminator" in err and not list(tmp_path.glob("workers"))
