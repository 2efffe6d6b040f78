"""Data-parallel training: N worker processes on this machine, each framework's own engine.

The launcher (`triptych.training.dp_launch`) starts the processes a backend's
``distributed`` module asks for (PyTorch: N gloo workers; MXNet: scheduler, server and N
``dist_sync`` workers; TensorFlow: N workers of a MultiWorkerMirroredStrategy cluster,
TF_CONFIG). Every worker draws the same global batch of the common seeded stream
(`data.batches`) and trains on rows ``rank::world`` of it; the engine averages the gradients
before the optimizer steps, so with SGD and no BatchNorm N workers follow the one-process
run to float rounding. The loss recorded is the mean over the workers (= the global-batch
loss). Rank 0 alone writes the checkpoints, with the atomic `save_checkpoint`; the launcher
holds the run-directory lock.

Resume (``resume=True``): a checkpoint holds the global state only (canonical weights,
optimizer state, step, seed, history; nothing per worker), so it resumes under any number
of workers, one process included (`triptych.engine.loop.fit`), and a one-process
checkpoint resumes here: every worker loads it, skips the ``step`` global batches already
used and continues at ``step + 1`` with that step's Dropout masks and noise. Every worker
has loaded before its first collective, and rank 0 saves only after one, so no worker reads
a checkpoint while rank 0 replaces it.

Faults: the launcher polls the processes; when one dies (or exits non-zero) it stops the
others at once and raises `DataParallelError` naming it. Each worker also has a watchdog that
exits (code 2) when no step completes for ``timeout_s`` seconds (a stalled collective), and
PyTorch's and TensorFlow's collectives time out after ``timeout_s`` on their own.

Supported: every recipe kind, global batch divisible by N. With a discriminator, G makes
D's fakes from the whole global batch in every worker (as one process does), then D's and
G's steps each take their rows and average their gradients; resume skips the k real batches
a step draws (`batches_used`). Dropout is exact: each worker applies its rows of the masks
one process would draw (`shard_dropout_masks`). BatchNorm normalises with per-worker
statistics unless ``sync_bn`` asks for the engine's synchronised BatchNorm (where it has
one: the backend's ``SYNC_BN_UNSUPPORTED`` says why not); parity level 5 reports BatchNorm
models apart.

Beyond one machine: ``nodes`` (`triptych.training.cluster`, `triptych.training.dp_nodes`)
runs this machine's share of an N-node job from the engine's own cluster description; a
process a cluster manager started with that description (torchrun's env, TF_CONFIG) trains
as that one worker; ``ray`` (`triptych.training.dp_ray`) lets Ray place the workers.

Run as ``python -m triptych.training.distributed JOB.json``: one worker of a job.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from triptych.common import data as D
from triptych.common.dropout import dropout_layers, dropout_masks
from triptych.common.recipe import Recipe
from triptych.common.spec import ModelSpec
from triptych.common.weights import load_weights
from triptych.engine.checkpoint import (
    CHECKPOINT,
    load_checkpoint,
    run_lock,
    save_checkpoint,
)
from triptych.engine.history import History
from triptych.engine.loop import batches_used
from triptych.engine.trainer import Trainer
from triptych.frameworks.base import get_backend
from triptych.model import Model
from triptych.training.cluster import ClusterError, Nodes, joined_nodes
from triptych.training.dp_launch import (
    DEFAULT_TIMEOUT_S,
    DataParallelError,
    Job,
    free_port,
    launch,
    thread_share,
)
from triptych.training.dp_nodes import RANK_ENV, launch_nodes
from triptych.training.dp_ray import check_ray, launch_ray

#: seconds a multi-node job waits for a node (arrival, heartbeat, finish), default
DEFAULT_NODE_TIMEOUT_S = 60.0
__all__ = [
    "DEFAULT_NODE_TIMEOUT_S",
    "DEFAULT_TIMEOUT_S",
    "ClusterError",
    "DataParallelError",
    "Job",
    "Nodes",
    "RayOptions",
    "ShardStep",
    "check_supported",
    "free_port",
    "joined_nodes",
    "launch",
    "run_worker",
    "thread_share",
    "train_workers",
]


@dataclass(frozen=True)
class RayOptions:
    """``--launcher ray``: ``address`` of a running Ray cluster (None: a local Ray started
    and shut down by triptych)."""

    address: str | None = None


def check_supported(framework: str, recipe: Recipe, workers: int, sync_bn: bool = False) -> None:
    """`ValueError` (one line) when this job cannot run data-parallel."""
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    dist = get_backend(framework).distributed
    if dist.UNSUPPORTED:
        raise ValueError(dist.UNSUPPORTED)
    if sync_bn and dist.SYNC_BN_UNSUPPORTED:
        raise ValueError(f"--sync-bn on {framework}: {dist.SYNC_BN_UNSUPPORTED}")
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
    """One worker of ``job``: join the engine, (resume,) train on its shards, rank 0
    checkpoints. Returns the history (loss averaged over workers; ``seconds`` per global
    step, of which ``sync_seconds`` averaging the gradients)."""
    backend = get_backend(job.framework)
    dist = backend.distributed
    watchdog = Watchdog(job.timeout_s, f"worker pid {os.getpid()}")
    rank, world = dist.init(job.timeout_s)
    watchdog.name = f"worker {rank}"
    backend.set_threads(job.threads)
    recipe = Recipe.from_dict(json.loads(job.recipe_json))
    train_set, _ = D.load_train_test(job.data, recipe.scale, job.test_fraction, job.split_seed)
    model = Model(ModelSpec.from_json(job.spec_json), job.framework, seed=job.seed)
    if job.sync_bn:
        dist.sync_batchnorm(list(model.built_networks().values()))
    trainer = Trainer(model, recipe, job.seed, exact_dropout=False)
    for role, step_obj in list(trainer.steps.items()):
        dist.attach(step_obj, world)
        trainer.steps[role] = ShardStep(step_obj, rank, world, dist)
    start, seed, records = 0, job.seed, []
    if job.resume:  # the global state any number of workers wrote (see the module docstring)
        start, seed, records = load_checkpoint(job.out_dir, model, trainer.steps)
        trainer.seed = seed
    backend.seed_rng(list(model.built_networks().values()), seed * 1_000_003 + start + rank)
    fault, how = _fault(job.fault)
    stream = D.batches(train_set, recipe.batch, seed=seed)
    for _ in range(batches_used(recipe, start)):  # k real batches a step when a D trains
        next(stream)
    history = History(records)
    writer = int(os.environ.get(RANK_ENV, rank)) == 0  # engine rank 0 on one node
    watchdog.beat()
    for s in range(start + 1, job.steps + 1):
        if fault == (rank, s):
            os.kill(os.getpid(), how)
        shard_dropout_masks(model, rank, world, recipe.batch, seed, s)
        t0, sync0 = time.perf_counter(), dist.SYNC["seconds"]
        record = trainer.step(s, next(stream), lambda: next(stream))
        watchdog.beat()
        rec = {"step": s, **{k: float(v) for k, v in record.items()}}
        rec["seconds"] = time.perf_counter() - t0
        rec["sync_seconds"] = dist.SYNC["seconds"] - sync0  # averaging the gradients
        rec["workers"] = float(world)
        history.append(rec)
        last = s == job.steps
        if writer and (s % recipe.checkpoint_every == 0 or last):
            save_checkpoint(job.out_dir, model, s, recipe.to_json(), trainer.steps, seed, history)
            history.save(job.out_dir)
    dist.shutdown()
    return history


# --- launcher side ----------------------------------------------------------------------


def resume_point(run_dir: Path, model: Model, recipe: Recipe) -> tuple[int, int, History]:
    """Check the checkpoint in ``run_dir`` in this process before any worker starts (every
    hash and step, framework, spec; `load_checkpoint`'s one-line errors) and that it was
    trained with ``recipe``'s global batch and optimizer, so the resumed run takes the
    batches the uninterrupted one would; loads its weights into ``model``. Returns
    (step, seed, history up to the step)."""
    trainer = Trainer(model, recipe)
    start, seed, records = load_checkpoint(run_dir, model, trainer.steps)
    _, _, meta = load_weights(run_dir / CHECKPOINT)
    before = Recipe.from_dict(json.loads(meta["recipe"]))
    for what in ("batch", "optimizer", "kind"):
        old, new = getattr(before, what), getattr(recipe, what)
        if old != new:
            raise ValueError(
                f"--resume: {run_dir / CHECKPOINT} was trained with {what} {old}, this run "
                f"asks for {new}: the resumed run would not take the same global batches"
            )
    return start, seed, History(records)


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
    resume: bool = False,
    sync_bn: bool = False,
    nodes: Nodes | None = None,
    ray: RayOptions | None = None,
) -> History:
    """Train ``model`` (its spec and framework; its weights are those ``seed`` gives) on
    ``workers`` processes up to global step ``steps``; loads the final weights into
    ``model`` and returns rank 0's history. ``resume``: continue from the checkpoint in
    ``run_dir``, whatever number of workers (or one process) wrote it; its seed wins.
    ``sync_bn``: the engine's synchronised BatchNorm. Worker logs go to ``run_dir/workers``.
    ``nodes``: this machine's place in a multi-node job (``workers`` per node; see
    `triptych.training.cluster`), or this process's place in a job a cluster manager
    started (``nodes.external``: it trains here); only rank 0 writes the checkpoint and
    history and loads the final weights, the others return an empty history. ``ray``: the
    workers run on Ray (`triptych.training.dp_ray`; one machine's flags only)."""
    run_dir = Path(run_dir)
    multi = nodes is not None and (nodes.nnodes > 1 or nodes.external)
    world = workers * (nodes.nnodes if multi else 1)  # external: nnodes is the world size
    world = nodes.nnodes if nodes is not None and nodes.external else world
    check_supported(model.framework, recipe, world, sync_bn)
    if ray is not None:
        if multi:
            raise ValueError("--launcher ray places the workers itself: leave out --nnodes")
        check_ray(model.framework)
    if multi and resume and not (run_dir / CHECKPOINT).exists():
        raise ValueError(
            f"--resume with --nnodes {nodes.nnodes}: node {nodes.node_rank} reads the "
            f"checkpoint from its own --out and {run_dir / CHECKPOINT} is missing: give it "
            "node 0's (a shared file system, or `cp -a` of node 0's --out)"
        )
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
        threads=thread_share(nodes.local_workers if nodes and nodes.external else workers),
        timeout_s=float(nodes.timeout_s if multi else timeout_s),  # nodes and collectives
        fault=fault,
        resume=resume,
        sync_bn=sync_bn,
    )
    if nodes is not None and nodes.external:  # one worker of a cluster manager's job
        # in a fresh child with this environment (TensorFlow's collectives must be set up
        # before any other op, and this process has built the model)
        log_dir = run_dir / "workers" / f"rank{nodes.node_rank}"
        child = [(f"worker {nodes.node_rank}", {}, True)]
        if nodes.node_rank != 0:
            launch(job, log_dir, processes=child)
            return History([])
        with run_lock(run_dir):
            launch(job, log_dir, processes=child)
    else:
        with run_lock(run_dir):
            if resume:
                start, seed, history = resume_point(run_dir, model, recipe)
                if start >= steps:  # nothing left to train: the checkpoint's weights are loaded
                    return history
                job = replace(job, seed=int(seed))
            if ray is not None:
                launch_ray(job, run_dir / "workers", ray_loop, ray.address)
            elif multi:
                launch_nodes(job, run_dir / "workers", nodes)
                if nodes.node_rank != 0:
                    return History([])
            else:
                launch(job, run_dir / "workers")
    _, weights, _ = load_weights(run_dir / CHECKPOINT)
    model.set_weights(weights)
    return History.load(run_dir)


def ray_loop(config: dict) -> None:
    """One Ray worker (``--launcher ray``): the training worker of ``config["job"]``."""
    run_worker(Job.from_json(config["job"]))


def main(argv: list[str]) -> int:
    """Entry point of one worker process: ``python -m triptych.training.distributed JOB``."""
    run_worker(Job.from_json(Path(argv[0]).read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
