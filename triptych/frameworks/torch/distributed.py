"""PyTorch data parallelism on its own engine: ``torch.distributed`` with the gloo backend.

Same function names in every backend (read them side by side):

* ``processes(world, port)``: the processes a job of ``world`` workers needs, each a
  (name, environment, is_worker) triple; PyTorch needs only the workers, with the
  torchrun variables MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE/LOCAL_RANK;
* ``cluster_processes(node_rank, per_node, hosts, ports, root_port)``: this node's share
  of a multi-node job (``hosts[r]``/``ports[r]``: node r's address and reserved ports;
  ``root_port`` on node 0 = ``hosts[0]``); global rank ``node_rank * per_node + local``;
* ``HELPER_ARGV``: what a non-worker process runs (none here);
* ``init(timeout_s)``: join the group (``init_process_group(timeout=...)``, so every
  collective fails after ``timeout_s`` seconds instead of hanging); returns (rank, world);
* ``attach(step_obj, world)``: gradients are averaged over the workers (equal shards of
  one global batch): here ``DistributedDataParallel`` around each network of the step
  (bucketed all-reduce during backward), in the other engines just before the optimizer
  steps;
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
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
from torch.nn.parallel import DistributedDataParallel

#: why ``--workers N`` refuses this framework (None: it does not)
UNSUPPORTED: str | None = None
#: processes other than workers run ``python HELPER_ARGV`` (PyTorch needs none)
HELPER_ARGV: list[str] = []
ENGINE = "torch.distributed (gloo), DistributedDataParallel"
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


def cluster_processes(
    node_rank: int, per_node: int, hosts: list[str], ports: list[list[int]], root_port: int
) -> list[tuple[str, dict[str, str], bool]]:
    """This node's ``per_node`` workers of a multi-node job: torchrun's environment with
    MASTER_ADDR/MASTER_PORT = node 0's ``hosts[0]``:``root_port`` (the TCPStore), global
    RANK = ``node_rank * per_node + local``, LOCAL_RANK = local. ``ports`` is unused."""
    del ports
    world = len(hosts) * per_node
    base = {"MASTER_ADDR": hosts[0], "MASTER_PORT": str(root_port), "WORLD_SIZE": str(world),
            "LOCAL_WORLD_SIZE": str(per_node), "GROUP_RANK": str(node_rank)}  # fmt: skip
    out = []
    for local in range(per_node):
        rank = node_rank * per_node + local
        env = {**base, "RANK": str(rank), "LOCAL_RANK": str(local)}
        out.append((f"worker {rank}", env, True))
    return out


#: what torchrun (and Kubernetes' PyTorchJob, which sets the same) puts in a worker's env
TORCHRUN_ENV = ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE")


def joined() -> tuple[int, int, int] | None:
    """(rank, world size, workers on this machine) when this process was started by
    ``torchrun`` or a cluster manager with its environment (TORCHRUN_ENV, LOCAL_WORLD_SIZE),
    else None: ``triptych train`` then runs as that one worker."""
    env = os.environ
    if not all(k in env for k in TORCHRUN_ENV):
        return None
    return int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_WORLD_SIZE", "1"))


def init(timeout_s: float) -> tuple[int, int]:
    """Join the gloo group from the torchrun environment (set by `processes`, or by
    ``torchrun`` itself: a worker it starts just joins); (rank, world size). Gloo uses the
    loopback interface when MASTER_ADDR is a loopback address, else the one the OS routes
    by (GLOO_SOCKET_IFNAME overrides both)."""
    if dist.is_initialized():  # Ray Train's TorchTrainer set the group up (gloo on CPU)
        return dist.get_rank(), dist.get_world_size()
    if os.environ.get("MASTER_ADDR", "127.0.0.1").startswith(("127.", "localhost")):
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group(
        "gloo", init_method="env://", timeout=datetime.timedelta(seconds=float(timeout_s))
    )
    return dist.get_rank(), dist.get_world_size()


def _timed_allreduce(state, bucket):  # type: ignore[no-untyped-def]
    """DDP's default bucket all-reduce (divide by the world size, sum), its wall time from
    the bucket being ready to the all-reduce done added to `SYNC` (it overlaps backward).
    Not annotated: DDP checks the annotations' objects, and this module's are strings
    (``from __future__ import annotations``); ``bucket`` is a ``dist.GradBucket``."""
    t0 = time.perf_counter()

    def done(fut: torch.futures.Future) -> torch.Tensor:
        SYNC["seconds"] += time.perf_counter() - t0
        return fut.value()[0]

    return default_hooks.allreduce_hook(state, bucket).then(done)


def attach(step_obj: Any, world: int) -> None:
    """Average the gradients over the workers with ``DistributedDataParallel``: every
    network of ``step_obj.modules`` that has trainable parameters is wrapped (its buckets
    all-reduced during backward; the module's own parameters, so the optimizer and the
    weights are unchanged). ``broadcast_buffers=False``: BatchNorm running statistics stay
    each worker's (as without DDP). A step object without ``modules`` (none of the
    data-parallel recipes) gets the flat all-reduce before its optimizer steps."""
    del world  # DDP divides by the group's size itself
    modules = getattr(step_obj, "modules", None)
    if modules is None:
        _attach_allreduce(step_obj, dist.get_world_size())
        return
    wrapped = []
    for m in modules:
        if any(p.requires_grad for p in m.parameters()):
            ddp = DistributedDataParallel(m, broadcast_buffers=False)
            ddp.register_comm_hook(None, _timed_allreduce)
            m = ddp
        wrapped.append(m)
    if getattr(step_obj, "forwards", None) is modules:  # not torch.compile'd
        step_obj.forwards = wrapped
    step_obj.modules = wrapped


def _attach_allreduce(step_obj: Any, world: int) -> None:
    """Before ``step_obj.opt`` steps, replace every gradient by its mean over the workers
    (one flat all-reduce, sum / ``world``): the engine before DistributedDataParallel."""
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


def ray_fit(
    loop: Callable[[dict], None], config: dict, workers: int, storage: str, timeout_s: float
) -> None:
    """Run ``loop(config)`` on ``workers`` Ray Train workers (``TorchTrainer``: it sets up
    the gloo group, with ``timeout_s`` seconds for its collectives; ``init`` joins it) of
    the Ray cluster this process is connected to; Ray's run files under ``storage``."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    TorchTrainer(
        loop,
        train_loop_config=config,
        torch_config=TorchConfig(backend="gloo", timeout_s=int(timeout_s)),
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=False),
        run_config=RunConfig(storage_path=storage, name="triptych"),
    ).fit()


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
