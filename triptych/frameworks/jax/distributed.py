"""JAX data parallelism on its own engine: ``jax.distributed`` (a coordinator, one process
per worker) with gloo CPU collectives (``jax_cpu_collectives_implementation = "gloo"``).

Same function names in every backend (read them side by side with
`triptych.frameworks.torch.distributed`):

* ``processes(world, port)``: the ``world`` worker processes, each told the coordinator
  (``JAX_COORDINATOR_ADDRESS``, loopback and ``port``), ``JAX_NUM_PROCESSES`` and its
  ``JAX_PROCESS_ID`` (the arguments of ``jax.distributed.initialize``);
* ``init(timeout_s)``: join (``initialization_timeout``), a one-axis mesh of the workers'
  CPU devices; (rank, world);
* ``attach(step_obj, world)``: the step's gradients are summed over the workers and divided
  by ``world`` between the jitted gradient and the jitted update (equal shards of one
  global batch: the gradient of the global mean);
* ``allreduce_sum(value)``; ``time_allreduce``; ``shutdown()``.
The all-reduce is JAX's own collective: every worker's flat vector becomes one row of a
global array sharded over the mesh, summed by a jitted reduction whose result is replicated.

Synchronised BatchNorm: JAX has no BatchNorm layer of its own (triptych's is a function);
workers normalise with their own shard's statistics, as PyTorch-on-CPU does.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from triptych.frameworks.jax.compat import jax, jnp

UNSUPPORTED: str | None = None
HELPER_ARGV: list[str] = []
ENGINE = "jax.distributed (gloo CPU collectives, all-reduce)"
SYNC_BN = "none (JAX has no BatchNorm layer of its own to synchronise)"
SYNC_BN_UNSUPPORTED: str | None = (
    "JAX has no synchronised BatchNorm of its own (triptych's BatchNorm is a function of the "
    "shard); workers normalise with their own shard's statistics"
)
#: seconds spent averaging gradients so far in this process (the scaling measurement)
SYNC = {"seconds": 0.0}
_MESH: dict[str, Any] = {}


def processes(world: int, port: int) -> list[tuple[str, dict[str, str], bool]]:
    """The ``world`` worker processes with the coordinator on loopback ``port``."""
    base = {"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": str(world)}
    return [(f"worker {r}", {**base, "JAX_PROCESS_ID": str(r)}, True) for r in range(world)]


def init(timeout_s: float) -> tuple[int, int]:
    """Join the job from the environment of `processes`; (rank, world size)."""
    from jax.sharding import Mesh

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        os.environ["JAX_COORDINATOR_ADDRESS"],
        num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
        process_id=int(os.environ["JAX_PROCESS_ID"]),
        initialization_timeout=max(1, int(timeout_s)),
    )
    _MESH["mesh"] = Mesh(np.array(jax.devices()), ("workers",))
    return jax.process_index(), jax.process_count()


def _allreduce(flat: np.ndarray) -> np.ndarray:
    """``flat`` (1-D) summed over the workers with JAX's collective."""
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    mesh = _MESH["mesh"]
    world = mesh.devices.size
    local = jax.device_put(flat[None], jax.local_devices()[0])
    rows = jax.make_array_from_single_device_arrays(
        (world, flat.size), NamedSharding(mesh, P("workers")), [local]
    )
    total = jax.jit(lambda a: jnp.sum(a, axis=0), out_shardings=NamedSharding(mesh, P()))(rows)
    return np.asarray(total.addressable_data(0))


def attach(step_obj: Any, world: int) -> None:
    """Average ``step_obj``'s gradients over the workers before each update (one flat
    all-reduce in the optimizer's parameter order, the same on every worker)."""

    def sync(grads: Any) -> Any:
        t0 = time.perf_counter()
        leaves, tree = jax.tree_util.tree_flatten(grads)
        arrays = [np.asarray(g) for g in leaves]
        flat = np.concatenate([a.reshape(-1) for a in arrays]) if arrays else np.zeros(0)
        total = _allreduce(flat) / world if flat.size else flat
        out, offset = [], 0
        for a in arrays:
            out.append(jnp.asarray(total[offset : offset + a.size].reshape(a.shape), a.dtype))
            offset += a.size
        SYNC["seconds"] += time.perf_counter() - t0
        return jax.tree_util.tree_unflatten(tree, out)

    step_obj.grad_sync = sync


def sync_batchnorm(networks: list[Any]) -> int:
    """Synchronised BatchNorm for ``networks``: refused here (`SYNC_BN_UNSUPPORTED`)."""
    del networks
    raise ValueError(SYNC_BN_UNSUPPORTED)


def allreduce_sum(value: float) -> float:
    """``value`` summed over the workers (float64)."""
    return float(_allreduce(np.array([float(value)], np.float64))[0])


def time_allreduce(nbytes: int, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` all-reduces (sum) of ``nbytes`` of float32, each after
    a barrier-like all-reduce of one number (so a late peer is not counted)."""
    flat = np.ones(max(1, nbytes // 4), np.float32)
    times = []
    for _ in range(repeats):
        allreduce_sum(0.0)
        t0 = time.perf_counter()
        _allreduce(flat)
        times.append(time.perf_counter() - t0)
    return times


def shutdown() -> None:
    """Leave the job (an all-reduce first, so no worker leaves one mid-collective)."""
    if "mesh" in _MESH:
        allreduce_sum(0.0)
        jax.distributed.shutdown()
        _MESH.clear()
