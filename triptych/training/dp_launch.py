"""The launcher side of data-parallel training: the job description, and starting, watching
and stopping a job's processes on this machine.

`launch` starts the processes a backend's ``distributed`` module asks for (``processes``:
PyTorch N gloo workers; MXNet scheduler, server and N ``dist_sync`` workers; TensorFlow N
workers of a MultiWorkerMirroredStrategy cluster) on 127.0.0.1 with a port chosen at run
time, each worker with its share of the thread budget (`thread_share`). It polls them: when
one dies (or exits non-zero) it stops the others at once and raises `DataParallelError`
naming it, with the telling line of its log. "worker i" in a message is the i-th worker
process started (MXNet's scheduler assigns kvstore ranks itself).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from triptych.frameworks.base import get_backend

#: seconds a collective (or a whole step) may take before the job is failed (default)
DEFAULT_TIMEOUT_S = 120.0
#: seconds the launcher waits between polls of its processes
POLL_S = 0.05
#: what a worker process runs: ``python -m WORKER_MODULE JOB.json``
WORKER_MODULE = "triptych.training.distributed"


class DataParallelError(RuntimeError):
    """A data-parallel job failed: one line naming the process and why."""


#: (name, environment, is_worker) of each process a job starts on this machine
ProcessList = list[tuple[str, dict[str, str], bool]]


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGKILL it when the launcher dies, so a killed
    ``triptych train`` leaves no worker behind."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass(frozen=True)
class Job:
    """Everything a worker needs, as JSON. ``threads``: intra-op threads per worker;
    ``timeout_s``: collective / watchdog timeout in seconds; ``fault``: testing only,
    ``"RANK:STEP"`` makes that worker SIGKILL itself before that step, ``"RANK:STEP:stop"``
    SIGSTOP itself (a hung peer: the others' collectives must time out); ``resume``: every
    worker first loads the checkpoint in ``out_dir`` (written by any number of workers) and
    continues at its step; ``sync_bn``: the engine's synchronised BatchNorm (global-batch
    statistics) instead of per-worker statistics."""

    framework: str
    spec_json: str
    recipe_json: str
    data: str
    test_fraction: float
    split_seed: int
    steps: int
    seed: int
    out_dir: str
    workers: int
    threads: int
    timeout_s: float = DEFAULT_TIMEOUT_S
    fault: str | None = None
    resume: bool = False
    sync_bn: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Job:
        return cls(**json.loads(text))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def thread_share(workers: int, total: int | None = None) -> int:
    """Intra-op threads per worker: ``total`` (default: the CPUs this process may use)
    divided by ``workers``, at least 1."""
    n = total or len(os.sched_getaffinity(0))
    return max(1, n // max(1, workers))


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen
    worker: bool
    log: Path
    handle: IO[bytes]


def _last_line(path: Path) -> str:
    """The last line of a log that names an error (or a watchdog exit), else its last line."""
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    telling = [ln for ln in lines if "Error" in ln or "error:" in ln or "exiting" in ln]
    return (telling or lines or [""])[-1][:300]


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _stop(procs: list[_Proc]) -> None:
    for p in procs:
        if p.popen.poll() is None:
            p.popen.kill()
    for p in procs:
        p.popen.wait()
        p.handle.close()


def launch(
    job: Job,
    log_dir: Path,
    timeout_s: float | None = None,
    module: str = WORKER_MODULE,
    processes: ProcessList | None = None,
    check: Callable[[], Any] | None = None,
) -> float:
    """Run ``job``'s processes to the end; returns the wall seconds. `DataParallelError`
    naming the first process that died (the others are killed at once), or on the job
    ``timeout_s`` (default: steps x the collective timeout, at least 60 s). Workers run
    ``python -m module JOB.json`` (default: a training worker). ``processes``: this node's
    share of a multi-node job (default: the backend's ``processes(workers, port)`` on
    loopback); ``check``: called every poll, raises to stop the job (another node failed).
    Every process is killed when the launcher dies."""
    dist = get_backend(job.framework).distributed
    log_dir.mkdir(parents=True, exist_ok=True)
    job_path = log_dir / "job.json"
    job_path.write_text(job.to_json())
    limit = timeout_s or max(60.0, job.timeout_s * max(1, job.steps))
    threads = str(job.threads)
    procs: list[_Proc] = []
    t0 = time.monotonic()
    try:
        for name, env, worker in processes or dist.processes(job.workers, free_port()):
            argv = [sys.executable]
            argv += ["-m", module, str(job_path)] if worker else dist.HELPER_ARGV
            full = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
            full.update(TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS=threads, **env)
            log = log_dir / f"{name.replace(' ', '')}.log"
            handle = log.open("wb")
            popen = subprocess.Popen(argv, env=full, stdout=handle, stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)  # fmt: skip
            procs.append(_Proc(name, popen, worker, log, handle))
        while True:
            for p in procs:
                code = p.popen.poll()
                if code is not None and code != 0:
                    _stop(procs)
                    tail = _last_line(p.log) if code > 0 else ""  # a signal leaves no line
                    raise DataParallelError(
                        f"data-parallel job failed: {p.name} (pid {p.popen.pid}) {_how(code)} "
                        f"after {time.monotonic() - t0:.1f} s; stopped the other "
                        f"{len(procs) - 1} processes"
                        + (f"; its last line: {tail}" if tail else "")
                        + f" (logs in {log_dir})"
                    )
            if check is not None:
                try:
                    check()
                except Exception:
                    _stop(procs)
                    raise
            workers = [p for p in procs if p.worker]
            if all(p.popen.poll() == 0 for p in workers):
                break
            if time.monotonic() - t0 > limit:
                _stop(procs)
                raise DataParallelError(
                    f"data-parallel job timed out after {limit:g} s (logs in {log_dir})"
                )
            time.sleep(POLL_S)
        deadline = time.monotonic() + 10.0  # helpers (MXNet scheduler/server) end by themselves
        while any(p.popen.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        return time.monotonic() - t0
    finally:
        _stop(procs)
