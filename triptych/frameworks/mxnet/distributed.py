"""MXNet data parallelism on its own engine: the parameter-server kvstore ``dist_sync``.

Same function names as `triptych.frameworks.torch.distributed`. A job is one scheduler, one
server and ``world`` workers (ps-lite, loopback): DMLC_ROLE, DMLC_PS_ROOT_URI/PORT,
DMLC_NUM_SERVER/WORKER. The scheduler and the server import MXNet (through `compat`)
(MXNet starts the role named by DMLC_ROLE at import and exits when the workers finish).
Each worker pushes its gradients; the server sums them (no server-side optimizer) and every
worker pulls the sum and divides by ``world``: the optimizer then steps locally, the same on
every worker. ps-lite has no collective timeout: the launcher's and the worker's watchdogs
(`triptych.training.distributed`) end a stalled job.

Synchronised BatchNorm: MXNet's own, ``gluon.contrib.nn.SyncBatchNorm``, synchronises the
devices of one process (``num_devices``; its operator ``_contrib_SyncBatchNorm`` meets the
other devices' threads at an in-process barrier named by ``key``), not kvstore workers in
other processes, and the kvstore has no hook inside a forward pass. So across workers each
normalises with its own shard's statistics; ``--sync-bn`` is refused with that reason.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from triptych.frameworks.mxnet.compat import mx

#: why ``--workers N`` refuses this framework (None: it does not)
UNSUPPORTED: str | None = None
HELPER_ARGV: list[str] = ["-c", "import triptych.frameworks.mxnet.compat"]
ENGINE = "MXNet kvstore dist_sync (parameter server: push, sum, pull)"
#: the engine's own synchronised BatchNorm
SYNC_BN = "mxnet.gluon.contrib.nn.SyncBatchNorm (devices of one process only)"
#: why ``--sync-bn`` is refused on this engine (None: it is not)
SYNC_BN_UNSUPPORTED: str | None = (
    "mxnet.gluon.contrib.nn.SyncBatchNorm synchronises devices inside one process, not "
    "kvstore workers in separate processes; workers normalise with their own shard's "
    "statistics"
)
#: seconds spent averaging gradients so far in this process (the scaling measurement)
SYNC = {"seconds": 0.0}

_KV: dict[str, Any] = {}
_LOSS_KEY = 1_000_000  # kvstore key of the loss scalar (parameters use 0..n-1 per step)


def processes(world: int, port: int) -> list[tuple[str, dict[str, str], bool]]:
    """Scheduler, one server and ``world`` workers with the DMLC environment (loopback)."""
    base = {
        "DMLC_PS_ROOT_URI": "127.0.0.1",
        "DMLC_PS_ROOT_PORT": str(port),
        "DMLC_NUM_SERVER": "1",
        "DMLC_NUM_WORKER": str(world),
        "DMLC_NODE_HOST": "127.0.0.1",
        "DMLC_INTERFACE": "lo",
        "PS_VERBOSE": "0",
    }
    out = [
        ("scheduler", {**base, "DMLC_ROLE": "scheduler"}, False),
        ("server", {**base, "DMLC_ROLE": "server"}, False),
    ]
    out += [(f"worker {r}", {**base, "DMLC_ROLE": "worker"}, True) for r in range(world)]
    return out


def cluster_processes(
    node_rank: int, per_node: int, hosts: list[str], ports: list[list[int]], root_port: int
) -> list[tuple[str, dict[str, str], bool]]:
    """This node's processes of a multi-node job: node 0 also runs the scheduler (at
    ``hosts[0]``:``root_port``) and the one server; every node runs ``per_node``
    ``dist_sync`` workers (DMLC_NODE_HOST = ``hosts[node_rank]``). The scheduler assigns
    kvstore ranks in arrival order, so a process's name is its triptych rank
    (``node_rank * per_node + local``), not necessarily its kvstore rank. ``ports`` unused."""
    del ports
    base = {
        "DMLC_PS_ROOT_URI": hosts[0],
        "DMLC_PS_ROOT_PORT": str(root_port),
        "DMLC_NUM_SERVER": "1",
        "DMLC_NUM_WORKER": str(len(hosts) * per_node),
        "DMLC_NODE_HOST": hosts[node_rank],
        "PS_VERBOSE": "0",
    }
    if hosts[node_rank].startswith("127."):
        base["DMLC_INTERFACE"] = "lo"
    out = []
    if node_rank == 0:
        out += [
            ("scheduler", {**base, "DMLC_ROLE": "scheduler"}, False),
            ("server", {**base, "DMLC_ROLE": "server"}, False),
        ]
    for local in range(per_node):
        out.append(
            (f"worker {node_rank * per_node + local}", {**base, "DMLC_ROLE": "worker"}, True)
        )
    return out


def joined() -> tuple[int, int, int] | None:
    """None: a worker started by ``dmlc-submit`` does not learn its kvstore rank before it
    joins, so triptych launches MXNet's processes itself (``--nnodes``/``--workers``)."""
    return None


def init(timeout_s: float) -> tuple[int, int]:
    """Create the ``dist_sync`` kvstore (rank assigned by the scheduler); (rank, world).
    ``timeout_s`` is not used by ps-lite (see the module docstring)."""
    del timeout_s
    kv = mx.kv.create("dist_sync")
    _KV["kv"] = kv
    _KV["keys"] = {}
    return kv.rank, kv.num_workers


def _kv() -> Any:
    return _KV["kv"]


def _sync(key: int, arrays: list[Any], world: int) -> None:
    kv = _kv()
    for i, a in enumerate(arrays):
        k = key + i
        if k not in _KV["keys"]:
            kv.init(k, mx.nd.zeros(a.shape, dtype=a.dtype))
            _KV["keys"][k] = True
        kv.push(k, a)
    for i, a in enumerate(arrays):
        kv.pull(key + i, out=a)
    for a in arrays:
        a[:] = a / world


def attach(step_obj: Any, world: int) -> None:
    """Before ``step_obj.trainer`` steps, replace every gradient by its mean over workers
    (push to the server, which sums; pull; divide by ``world``)."""
    trainer = step_obj.trainer
    params = getattr(trainer, "params", None) or getattr(trainer, "_params", [])
    params = [p for p in params if p.grad_req != "null"]
    inner = trainer.step
    base = 1000 * (len(_KV.setdefault("attached", [])) + 1)  # keys per step object
    _KV["attached"].append(step_obj)

    def step(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        grads = [p.grad() for p in params]
        _sync(base, grads, world)
        for g in grads:
            g.wait_to_read()  # MXNet is asynchronous: the time is the pull's, not the call's
        SYNC["seconds"] += time.perf_counter() - t0
        return inner(*args, **kwargs)

    trainer.step = step


def _role_actor() -> Any:
    """A Ray actor class that runs one MXNet process (its DMLC role read at import, so each
    role is a fresh process), killed with the actor (PR_SET_PDEATHSIG)."""
    import ray

    class Role:
        def address(self) -> tuple[str, int]:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("", 0))
                return ray.util.get_node_ip_address(), int(s.getsockname()[1])

        def run(self, argv: list[str], env: dict[str, str], job: str | None) -> int:
            if job is not None:  # a worker: the job's JSON in a file on this node
                with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                    f.write(job)
                argv = [*argv, f.name]
            kill_with_parent = functools.partial(ctypes.CDLL(None).prctl, 1, signal.SIGKILL)
            proc = subprocess.run([sys.executable, *argv], env={**os.environ, **env},
                                  preexec_fn=kill_with_parent, check=False)  # fmt: skip
            return proc.returncode

    return ray.remote(Role)


def ray_fit(
    loop: Callable[[dict], None], config: dict, workers: int, storage: str, timeout_s: float
) -> None:
    """Run the job in ``config["job"]`` on Ray actors: one for the scheduler (on the node
    Ray places it, its address from there), one for the server and one per worker, each
    running its MXNet process with the DMLC environment (the processes `processes` gives,
    placed by Ray). ``loop`` is not called: an MXNet worker's role must be in its
    environment before MXNet is imported, so each runs ``python -m
    triptych.training.distributed JOB``. `RuntimeError` naming the role that failed, or
    after ``timeout_s`` x 10 seconds. ``storage`` is unused (no Ray Train run files)."""
    del loop, storage
    import ray

    role = _role_actor()
    scheduler = role.options(num_cpus=0).remote()
    host, port = ray.get(scheduler.address.remote(), timeout=timeout_s)
    server = role.options(num_cpus=0).remote()
    actors = [role.options(num_cpus=1).remote() for _ in range(workers)]
    base = {"DMLC_PS_ROOT_URI": host, "DMLC_PS_ROOT_PORT": str(port), "DMLC_NUM_SERVER": "1",
            "DMLC_NUM_WORKER": str(workers), "PS_VERBOSE": "0"}  # fmt: skip
    try:
        hosts = ray.get([a.address.remote() for a in [server, *actors]], timeout=timeout_s)
        env = [{**base, "DMLC_NODE_HOST": h} for h, _ in hosts]
        scheduler_env = {**base, "DMLC_NODE_HOST": host, "DMLC_ROLE": "scheduler"}
        refs = {
            "scheduler": scheduler.run.remote(HELPER_ARGV, scheduler_env, None),
            "server": server.run.remote(HELPER_ARGV, {**env[0], "DMLC_ROLE": "server"}, None),
        }
        argv = ["-m", "triptych.training.distributed"]
        for r, a in enumerate(actors):
            refs[f"worker {r}"] = a.run.remote(argv, {**env[r + 1], "DMLC_ROLE": "worker"},
                                               config["job"])  # fmt: skip
        names = {ref: name for name, ref in refs.items()}
        pending = list(refs.values())
        deadline = time.monotonic() + 10 * timeout_s
        while pending:
            done, pending = ray.wait(
                pending, num_returns=1, timeout=max(0.0, deadline - time.monotonic())
            )
            if not done:
                raise RuntimeError(f"MXNet on Ray: timed out after {10 * timeout_s:g} s")
            code = ray.get(done[0])
            if code != 0:
                raise RuntimeError(f"MXNet on Ray: {names[done[0]]} exited with code {code}")
    finally:
        for a in [scheduler, server, *actors]:
            ray.kill(a)


def sync_batchnorm(networks: list[Any]) -> int:
    """Synchronised BatchNorm for ``networks``: refused here (`SYNC_BN_UNSUPPORTED`)."""
    del networks
    raise ValueError(SYNC_BN_UNSUPPORTED)


def allreduce_sum(value: float) -> float:
    """``value`` summed over the workers (through the server, float32 on the wire)."""
    a = mx.nd.array([float(value)], dtype="float64")
    _sync(_LOSS_KEY, [a], 1)
    return float(a.asnumpy()[0])


def time_allreduce(nbytes: int, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` push + pull (the server sums) of ``nbytes`` of
    float32, each timed after a barrier (so a late peer is not counted)."""
    a = mx.nd.ones((max(1, nbytes // 4),), dtype="float32")
    key = 2_000_000 + nbytes % 1_000_000  # apart from the training keys
    times = []
    for _ in range(repeats):
        _kv()._barrier()
        t0 = time.perf_counter()
        _sync(key, [a], 1)
        a.wait_to_read()
        times.append(time.perf_counter() - t0)
    return times


def shutdown() -> None:
    """Barrier, then drop the kvstore (the workers' exit lets server and scheduler end)."""
    kv = _KV.pop("kv", None)
    if kv is not None:
        kv._barrier()  # MXNet 1.9 names it with an underscore
        del kv
