"""PyTorch data parallelism on its own engine: ``torch.distributed`` with the gloo backend.

Same function names in every backend (read them side by side):

* ``processes(world, port)``: the processes a job of ``world`` workers needs, each a
  (name, environment, is_worker) triple; PyTorch needs only the workers, with the
  torchrun variables MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE/LOCAL_RANK;
* ``HELPER_ARGV``: what a non-worker process runs (none here);
* ``init(timeout_s)``: join the group (``init_process_group(timeout=...)``, so every
  collective fails after ``timeout_s`` seconds instead of hanging); returns (rank, world);
* ``attach(step_obj, world)``: gradients are averaged over the workers (all-reduce sum /
  world; equal shards of one global batch) just before the step object's optimizer steps;
* ``allreduce_sum(value)``: a float summed over the workers;
* ``shutdown()``: leave the group;
* ``SYNC_BN_UNSUPPORTED`` / ``sync_batchnorm(networks)``: the engine's synchronised
  BatchNorm (statistics of the global batch), or why it cannot run here.

Synchronised BatchNorm: ``torch.nn.SyncBatchNorm`` (``convert_sync_batchnorm``) is the
engine's own, but it runs on GPUs only. Checked with torch 2.13 (CPU build): its forward
raises ``ValueError: SyncBatchNorm expected input tensor to be on GPU or XPU or
privateuseone`` for a CPU tensor under an initialised process group, and the kernels it
calls (``torch.batch_norm_stats``, ``batch_norm_gather_stats_with_counts``) have no CPU
implementation (``NotImplementedError: Could not run 'aten::batch_norm_stats' with
arguments from the 'CPU' backend``), so it cannot be forced either. On CPU (gloo), workers
normalise with their own shard's statistics.
"""

from __future__ import annotations

import datetime
import os
import time
from typing import Any

import torch
import torch.distributed as dist

#: why ``--workers N`` refuses this framework (None: it does not)
UNSUPPORTED: str | None = None
#: processes other than workers run ``python HELPER_ARGV`` (PyTorch needs none)
HELPER_ARGV: list[str] = []
ENGINE = "torch.distributed (gloo, all-reduce)"
#: the engine's own synchronised BatchNorm
SYNC_BN = "torch.nn.SyncBatchNorm (convert_sync_batchnorm; GPU only)"
#: why ``--sync-bn`` is refused on this engine here (None: it is not)
SYNC_BN_UNSUPPORTED: str | None = (
    "torch.nn.SyncBatchNorm runs on GPUs only (it refuses CPU tensors and "
    "aten::batch_norm_stats has no CPU kernel in torch 2.13); this engine runs gloo on CPU, "
    "so workers normalise with their own shard's statistics"
)
#: seconds spent averaging gradients so far in this process (the scaling measurement)
SYNC = {"seconds": 0.0}


def processes(world: int, port: int) -> list[tuple[str, dict[str, str], bool]]:
    """The ``world`` worker processes, with torchrun's environment (loopback, ``port``)."""
    base = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": str(world)}
    return [
        (f"worker {r}", {**base, "RANK": str(r), "LOCAL_RANK": str(r)}, True) for r in range(world)
    ]


def init(timeout_s: float) -> tuple[int, int]:
    """Join the gloo group from the torchrun environment; (rank, world size)."""
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group(
        "gloo", init_method="env://", timeout=datetime.timedelta(seconds=float(timeout_s))
    )
    return dist.get_rank(), dist.get_world_size()


def attach(step_obj: Any, world: int) -> None:
    """Before ``step_obj.opt`` steps, replace every gradient by its mean over the workers."""
    opt = step_obj.opt
    inner = opt.step
    params = [p for g in opt.param_groups for p in g["params"]]

    def step(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        grads = [p.grad for p in params if p.grad is not None]
        if grads:  # one flat all-reduce: the order is the same on every worker
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            flat.div_(world)
            offset = 0
            for g in grads:
                g.copy_(flat[offset : offset + g.numel()].view_as(g))
                offset += g.numel()
        SYNC["seconds"] += time.perf_counter() - t0
        return inner(*args, **kwargs)

    opt.step = step  # an instance attribute: isinstance checks on the optimizer still hold


def sync_batchnorm(networks: list[Any]) -> int:
    """Synchronised BatchNorm for ``networks``: refused here (`SYNC_BN_UNSUPPORTED`)."""
    del networks
    raise ValueError(SYNC_BN_UNSUPPORTED)


def allreduce_sum(value: float) -> float:
    """``value`` summed over the workers (float64)."""
    t = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item())


def time_allreduce(nbytes: int, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` all-reduces (sum) of ``nbytes`` of float32 over the
    workers, each timed after a barrier (so a late peer is not counted)."""
    t = torch.ones(max(1, nbytes // 4), dtype=torch.float32)
    times = []
    for _ in range(repeats):
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        times.append(time.perf_counter() - t0)
    return times


def shutdown() -> None:
    """Leave the process group (a barrier first, so no worker leaves one mid-collective)."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
