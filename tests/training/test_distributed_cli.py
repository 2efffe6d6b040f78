"""`triptych train --workers N`: refusals exit 2 with one line before any process starts; a
failed job exits 1 with one line."""

from __future__ import annotations

import json

import pytest

from triptych.cli import main
from triptych.commands import train as train_command
from triptych.common.weights import load_weights
from triptych.frameworks.base import unavailable_reason
from triptych.training.distributed import DataParallelError


def test_sync_bn_refusals_are_one_line(tmp_path, capsys) -> None:
    if unavailable_reason("torch") is not None:
        pytest.skip("torch is not installed")
    argv = ["train", "classifier", "-f", "torch", "--workers", "2", "--sync-bn"]
    assert main([*argv, "--out", str(tmp_path / "a"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--sync-bn on torch: torch.nn.SyncBatchNorm runs on GPUs" in err
    argv = ["train", "classifier", "-f", "torch", "--sync-bn", "--steps", "1"]
    assert main([*argv, "--out", str(tmp_path / "b"), "--no-progress"]) == 2
    assert "--sync-bn applies to data-parallel training" in capsys.readouterr().err


def test_workers_train_a_gan_and_write_its_checkpoint(tmp_path, capsys) -> None:
    """`triptych train gan --workers 2` (data-parallel D and G steps, no longer refused):
    exit 0, rank 0's checkpoint holds both networks, the history has every step."""
    if unavailable_reason("torch") is not None:
        pytest.skip("torch is not installed")
    argv = ["train", "gan", "-f", "torch", "--workers", "2", "--steps", "2"]
    assert main([*argv, "--out", str(tmp_path), "--no-progress"]) == 0
    _, weights, _ = load_weights(tmp_path / "checkpoint.safetensors")
    assert {k.split(".")[0] for k in weights} == {"generator", "discriminator"}
    history = json.loads((tmp_path / "history.json").read_text())
    assert [r["step"] for r in history] == [1, 2] and all("d_loss" in r for r in history)


def test_a_failed_job_exits_1_with_one_line(monkeypatch, capsys) -> None:
    def fail(*args, **kwargs):
        raise DataParallelError("data-parallel job failed: worker 1 (pid 7) was killed by SIGKILL")

    monkeypatch.setattr(train_command, "train", fail)
    assert main(["train", "autoencoder", "--workers", "2", "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "triptych train: error: data-parallel job failed: worker 1 (pid 7) was killed by SIGKILL"
    )
