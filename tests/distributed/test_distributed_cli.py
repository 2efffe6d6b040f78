"""`triptych train --workers N`: refusals exit 2 with one line before any process starts; a
failed job exits 1 with one line."""

from __future__ import annotations

import pytest

from triptych.cli import main
from triptych.commands import train as train_command
from triptych.frameworks.base import unavailable_reason
from triptych.training.distributed import DataParallelError


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


def test_a_failed_job_exits_1_with_one_line(monkeypatch, capsys) -> None:
    def fail(*args, **kwargs):
        raise DataParallelError("data-parallel job failed: worker 1 (pid 7) was killed by SIGKILL")

    monkeypatch.setattr(train_command, "train", fail)
    assert main(["train", "autoencoder", "--workers", "2", "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "triptych train: error: data-parallel job failed: worker 1 (pid 7) was killed by SIGKILL"
    )
