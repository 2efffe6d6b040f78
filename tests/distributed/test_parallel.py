"""Real data-parallel jobs (2 worker processes on 127.0.0.1): level 5 per framework (N
workers vs one process, SGD, no BatchNorm: float rounding) and a killed worker failing the
job fast with one line naming it. A framework whose engine cannot run here is skipped with
the exact reason. About 20 s per job on 2 shared cores."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from triptych.common.recipe import Optimizer
from triptych.frameworks.base import get_backend, unavailable_reason
from triptych.model import Model, default_recipe, resolve_spec
from triptych.training import distributed as DP
from triptych.verify.data_parallel import data_parallel_checks, without_batchnorm


def engine_or_skip(framework: str) -> None:
    """Skip when ``framework`` cannot run data-parallel here (with the exact reason)."""
    reason = unavailable_reason(framework)
    if reason is None:
        reason = get_backend(framework).distributed.UNSUPPORTED
    if reason:
        pytest.skip(f"{framework}: {reason}")


# a conv classifier (BatchNorm removed; exact Dropout) on torch and TensorFlow, a dense
# autoencoder on MXNet: both kinds the launcher supports, one job each to keep it short
CASES = [("torch", "classifier"), ("mxnet", "autoencoder"), ("tensorflow", "classifier")]


@pytest.mark.parametrize(("framework", "model"), CASES)
def test_level5_two_workers_equal_one_process(framework: str, model: str) -> None:
    engine_or_skip(framework)
    spec = without_batchnorm(resolve_spec(model))
    checks = data_parallel_checks(spec, framework, workers=2, steps=3, timeout_s=60)
    assert {c.network for c in checks} == {"loss", "weights"}
    for c in checks:
        assert c.level == 5 and c.gating, c.note
        assert c.passed, c.comparison.failures()
        assert c.max_abs < 1e-5, (c.network, c.max_abs)


@pytest.mark.parametrize("framework", ["torch", "mxnet"])
def test_killed_worker_fails_the_job_fast(tmp_path: Path, framework: str) -> None:
    engine_or_skip(framework)
    spec = without_batchnorm(resolve_spec("autoencoder"))
    recipe = default_recipe(spec).with_(optimizer=Optimizer("sgd", 0.1), batch=16)
    t0 = time.monotonic()
    with pytest.raises(DP.DataParallelError) as err:
        DP.train_workers(
            Model(spec, framework, seed=0),
            recipe,
            50,
            data="digits",
            seed=0,
            run_dir=tmp_path,
            workers=2,
            test_fraction=0.2,
            split_seed=0,
            timeout_s=60,
            fault="1:2",
        )
    msg = str(err.value)
    # MXNet's scheduler assigns kvstore ranks itself: "worker i" is the i-th process started
    assert "worker " in msg and "SIGKILL" in msg, msg
    assert "\n" not in msg
    # ends when the launcher sees the death, not after a collective timeout (60 s) or the
    # job's (50 steps x 60 s): start-up is 10-20 s on 2 loaded cores
    assert time.monotonic() - t0 < 60
    assert not (tmp_path / "checkpoint.safetensors").exists()
