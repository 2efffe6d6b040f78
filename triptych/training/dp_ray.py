"""``--launcher ray``: a data-parallel job's workers placed by Ray instead of triptych's own
launcher (`triptych.training.dp_launch`).

The backend's ``ray_fit`` runs the workers: PyTorch through Ray Train's ``TorchTrainer``
(it sets up the gloo group), TensorFlow and Sonnet through ``TensorflowTrainer`` (it sets
each worker's TF_CONFIG), MXNet through Ray actors that run the scheduler, server and
workers with the DMLC environment. Each worker runs `triptych.training.distributed.run_worker`
on the same `Job` as the local launcher, so the checkpoint is the one ``--workers N``
writes (engine rank 0 writes it into the run directory, which must be reachable from the
Ray node running rank 0: with a remote cluster, a shared file system).

``address``: a running cluster (``ray://HOST:10001`` or ``HOST:6379``, `ray.init`'s
``address``); None starts a local Ray with ``workers + 1`` CPUs and shuts it down after.
Ray is optional: ``pip install 'triptych[ray]'``.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from triptych.frameworks.base import get_backend
from triptych.training.dp_launch import DataParallelError, Job

INSTALL = "pip install 'triptych[ray]'"


def _ray() -> Any:
    try:
        return importlib.import_module("ray")
    except ImportError as e:
        raise ValueError(f"--launcher ray needs Ray ({INSTALL}): {e}") from None


@contextlib.contextmanager
def connected(address: str | None, cpus: int) -> Iterator[Any]:
    """Ray connected to ``address``, or a local Ray with ``cpus`` logical CPUs started here
    and shut down after (its session files in Ray's default place, /tmp/ray: its unix
    sockets' paths must stay under 108 bytes, so not in a deep ``log_dir``)."""
    ray = _ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address is None:
        kwargs["num_cpus"] = cpus
    else:
        kwargs["address"] = address
    ray.init(**kwargs)
    try:
        yield ray
    finally:
        ray.shutdown()


def check_ray(framework: str) -> None:
    """`ValueError` (one line) when ``--launcher ray`` cannot run ``framework``."""
    if not hasattr(get_backend(framework).distributed, "ray_fit"):
        raise ValueError(
            f"--launcher ray: the {framework} backend has no Ray runner (ray_fit); "
            "use the default launcher"
        )
    _ray()


def launch_ray(
    job: Job, log_dir: Path, loop: Callable[[dict], Any], address: str | None = None
) -> None:
    """Run ``job``'s ``workers`` on Ray (see the module docstring), each calling
    ``loop({"job": JOB_JSON})`` (`triptych.training.distributed.ray_loop`);
    `DataParallelError` (one line) when Ray reports the job failed."""
    check_ray(job.framework)
    dist = get_backend(job.framework).distributed
    with connected(address, job.workers + 1):
        try:
            dist.ray_fit(loop, {"job": job.to_json()}, job.workers,
                         str((log_dir / "ray").resolve()), job.timeout_s)  # fmt: skip
        except Exception as e:  # Ray wraps the worker's error: keep one line
            lines = [ln for ln in str(e).splitlines() if ln.strip()]
            why = next((ln for ln in reversed(lines) if "Error" in ln), lines[-1] if lines else "")
            raise DataParallelError(
                f"data-parallel job on Ray failed: {type(e).__name__}: {why.strip()[:300]}"
            ) from None
