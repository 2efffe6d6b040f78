"""Data-parallel training: N worker processes on this machine, each framework's own engine.

`launch` starts the processes a backend's ``distributed`` module asks for (PyTorch: N gloo
workers; MXNet: scheduler, server and N ``dist_sync`` workers; TensorFlow: N workers of a
MultiWorkerMirroredStrategy cluster, TF_CONFIG), on 127.0.0.1 with a free
port chosen at run time, each worker with its share of the thread budget. Every worker
draws the same global batch of the common seeded stream (`data.batches`) and trains on rows
``rank::world`` of it; the engine averages the gradients before the optimizer steps, so with
SGD and no BatchNorm N workers follow the one-process run to float rounding. The loss
recorded is the mean over the workers (= the global-batch loss). Rank 0 alone writes the
checkpoints, with the atomic `save_checkpoint`; the launcher holds the run-directory lock.

Faults: the launcher polls the processes; when one dies (or exits non-zero) it stops the
others at once and raises `DataParallelError` naming it. Each worker also has a watchdog that
exits (code 2) when no step completes for ``timeout_s`` seconds (a stalled collective), and
PyTorch's and TensorFlow's collectives time out after ``timeout_s`` on their own. "worker i"
in a message is the i-th worker process started (MXNet's scheduler assigns kvstore ranks).

Supported: supervised and reconstruction recipes without a discriminator, global batch
divisible by N. Dropout is exact: each worker applies its rows of the masks one process
would draw (`shard_dropout_masks`). BatchNorm normalises with per-worker statistics (no
synchronised BN), so a model with BatchNorm differs from one process: reported apart at
parity level 5.

Run as ``python -m triptych.training.distributed JOB.json``: one worker of a job.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from triptych.common import data as D
from triptych.common.dropout import dropout_layers, dropout_masks
from triptych.common.recipe import Recipe
from triptych.common.spec import ModelSpec
from triptych.common.weights import load_weights
from triptych.frameworks.base import get_backend
from triptych.model import Model
from triptych.training.checkpoint import run_lock, save_checkpoint
from triptych.training.history import History
from triptych.training.loop import Trainer

#: seconds a collective (or a whole step) may take before the job is failed (default)
DEFAULT_TIMEOUT_S = 120.0
#: seconds the launcher waits between polls of its processes
POLL_S = 0.05


class DataParallelError(RuntimeError):
    """A data-parallel job failed: one line naming the process and why."""


@dataclass(frozen=True)
class Job:
    """Everything a worker needs, as JSON. ``threads``: intra-op threads per worker;
    ``timeout_s``: collective / watchdog timeout in seconds; ``fault``: testing only,
    ``"RANK:STEP"`` makes that worker SIGKILL itself before that step, ``"RANK:STEP:stop"``
    SIGSTOP itself (a hung peer: the others' collectives must time out)."""

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


def check_supported(framework: str, recipe: Recipe, workers: int) -> None:
    """`ValueError` (one line) when this job cannot run data-parallel."""
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    reason = get_backend(framework).distributed.UNSUPPORTED
    if reason:
        raise ValueError(reason)
    if recipe.kind == "adversarial" or recipe.adv_weight > 0:
        raise ValueError("data-parallel training supports supervised and reconstruction "
                         "recipes without a discriminator")  # fmt: skip
    if recipe.batch % workers:
        raise ValueError(
            f"the global batch {recipe.batch} does not split into {workers} equal shards"
        )


# --- worker side ------------------------------------------------------------------------


class ShardStep:
    """A step object on rows ``rank::world`` of every batch-sized array argument; its
    float results are averaged over the workers (``allreduce_sum`` / world).
    ``state()`` / ``load_state()`` pass through."""

    def __init__(self, inner: Any, rank: int, world: int, dist: Any) -> None:
        self.inner, self.rank, self.world, self.dist = inner, rank, world, dist

    def _shard(self, a: Any, n: int) -> Any:
        if isinstance(a, np.ndarray) and a.ndim and len(a) == n:
            return np.ascontiguousarray(a[self.rank :: self.world])
        return a

    def __call__(self, x: np.ndarray, *rest: Any) -> Any:
        n = len(x)
        out = self.inner(self._shard(x, n), *(self._shard(a, n) for a in rest))
        if isinstance(out, dict):
            return {k: self.dist.allreduce_sum(float(v)) / self.world for k, v in out.items()}
        return self.dist.allreduce_sum(float(out)) / self.world

    def state(self) -> Any:
        return self.inner.state()

    def load_state(self, blob: Any) -> None:
        self.inner.load_state(blob)


class Watchdog:
    """Exits the process (code 2, one line on stderr) when `beat` has not been called for
    ``timeout_s`` seconds: a worker stuck in a collective whose peer is gone."""

    def __init__(self, timeout_s: float, name: str) -> None:
        self.timeout_s, self.name = float(timeout_s), name
        self.last = time.monotonic()
        threading.Thread(target=self._watch, daemon=True).start()

    def beat(self) -> None:
        self.last = time.monotonic()

    def _watch(self) -> None:
        while True:
            time.sleep(min(1.0, self.timeout_s / 4))
            if time.monotonic() - self.last > self.timeout_s:
                print(
                    f"{self.name}: no step completed for {self.timeout_s:g} s "
                    "(a collective stalled); exiting",
                    file=sys.stderr,
                    flush=True,
                )
                os._exit(2)


def shard_dropout_masks(
    model: Model, rank: int, world: int, batch: int, seed: int, step: int
) -> None:
    """Exact Dropout across workers: every network's masks for the global ``batch`` at
    (``seed``, ``step``) (`triptych.common.dropout`, what one process draws), rows
    ``rank::world``, so N workers drop exactly what one process drops."""
    for name, net in model.spec.networks.items():
        if dropout_layers(net):
            masks = dropout_masks(net, batch, seed, step)
            shard = {i: np.ascontiguousarray(m[rank::world]) for i, m in masks.items()}
            model.backend.set_dropout_masks(model.built(name), shard)


def _fault(spec: str | None) -> tuple[tuple[int, int] | None, int]:
    """``"RANK:STEP"`` -> ((rank, step), SIGKILL); ``"RANK:STEP:stop"``: SIGSTOP (a hang)."""
    if not spec:
        return None, signal.SIGKILL
    parts = spec.split(":")
    how = signal.SIGSTOP if parts[2:] == ["stop"] else signal.SIGKILL
    return (int(parts[0]), int(parts[1])), how


def run_worker(job: Job) -> History:
    """One worker of ``job``: join the engine, train on its shards, rank 0 checkpoints.
    Returns the history (loss averaged over workers; ``seconds`` per global step, of which
    ``sync_seconds`` averaging the gradients)."""
    backend = get_backend(job.framework)
    dist = backend.distributed
    watchdog = Watchdog(job.timeout_s, f"worker pid {os.getpid()}")
    rank, world = dist.init(job.timeout_s)
    watchdog.name = f"worker {rank}"
    backend.set_threads(job.threads)
    recipe = Recipe.from_dict(json.loads(job.recipe_json))
    train_set, _ = D.load_train_test(job.data, recipe.scale, job.test_fraction, job.split_seed)
    model = Model(ModelSpec.from_json(job.spec_json), job.framework, seed=job.seed)
    trainer = Trainer(model, recipe, job.seed, exact_dropout=False)
    for role, step_obj in list(trainer.steps.items()):
        dist.attach(step_obj, world)
        trainer.steps[role] = ShardStep(step_obj, rank, world, dist)
    backend.seed_rng(list(model.built_networks().values()), job.seed * 1_000_003 + rank)
    fault, how = _fault(job.fault)
    stream = D.batches(train_set, recipe.batch, seed=job.seed)
    history = History()
    watchdog.beat()
    for s in range(1, job.steps + 1):
        if fault == (rank, s):
            os.kill(os.getpid(), how)
        shard_dropout_masks(model, rank, world, recipe.batch, job.seed, s)
        t0, sync0 = time.perf_counter(), dist.SYNC["seconds"]
        record = trainer.step(s, next(stream), lambda: next(stream))
        watchdog.beat()
        rec = {"step": s, **{k: float(v) for k, v in record.items()}}
        rec["seconds"] = time.perf_counter() - t0
        rec["sync_seconds"] = dist.SYNC["seconds"] - sync0  # averaging the gradients
        history.append(rec)
        last = s == job.steps
        if rank == 0 and (s % recipe.checkpoint_every == 0 or last):
            save_checkpoint(
                job.out_dir, model, s, recipe.to_json(), trainer.steps, job.seed, history
            )
            history.save(job.out_dir)
    dist.shutdown()
    return history


# --- launcher side ----------------------------------------------------------------------


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


def launch(job: Job, log_dir: Path, timeout_s: float | None = None) -> float:
    """Run ``job``'s processes to the end; returns the wall seconds. `DataParallelError`
    naming the first process that died (the others are killed at once), or on the job
    ``timeout_s`` (default: steps x the collective timeout, at least 60 s)."""
    dist = get_backend(job.framework).distributed
    log_dir.mkdir(parents=True, exist_ok=True)
    job_path = log_dir / "job.json"
    job_path.write_text(job.to_json())
    limit = timeout_s or max(60.0, job.timeout_s * max(1, job.steps))
    threads = str(job.threads)
    procs: list[_Proc] = []
    t0 = time.monotonic()
    try:
        for name, env, worker in dist.processes(job.workers, free_port()):
            argv = [sys.executable]
            argv += ["-m", __name__, str(job_path)] if worker else dist.HELPER_ARGV
            full = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
            full.update(TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS=threads, **env)
            log = log_dir / f"{name.replace(' ', '')}.log"
            handle = log.open("wb")
            popen = subprocess.Popen(argv, env=full, stdout=handle, stderr=subprocess.STDOUT)
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


def train_workers(
    model: Model,
    recipe: Recipe,
    steps: int,
    *,
    data: str,
    seed: int,
    run_dir: Path,
    workers: int,
    test_fraction: float,
    split_seed: int,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    fault: str | None = None,
) -> History:
    """Train ``model`` (its spec and framework; its weights are those ``seed`` gives) on
    ``workers`` processes; loads the final weights into ``model`` and returns rank 0's
    history. Worker logs go to ``run_dir/workers``."""
    check_supported(model.framework, recipe, workers)
    job = Job(
        framework=model.framework,
        spec_json=model.spec.to_json(),
        recipe_json=recipe.to_json(),
        data=str(data),
        test_fraction=test_fraction,
        split_seed=split_seed,
        steps=int(steps),
        seed=int(seed),
        out_dir=str(run_dir),
        workers=int(workers),
        threads=thread_share(workers),
        timeout_s=float(timeout_s),
        fault=fault,
    )
    with run_lock(run_dir):
        launch(job, run_dir / "workers")
    _, weights, _ = load_weights(run_dir / "checkpoint.safetensors")
    model.set_weights(weights)
    return History.load(run_dir)


def main(argv: list[str]) -> int:
    """Entry point of one worker process: ``python -m triptych.training.distributed JOB``."""
    run_worker(Job.from_json(Path(argv[0]).read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
