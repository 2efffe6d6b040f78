"""JAX runtime facts: version, threads, the RNG behind Dropout, BatchNorm's estimator."""

from __future__ import annotations

import os

import flax
import optax

from triptych.frameworks.jax.compat import jax

#: how BatchNorm tracks running variance: triptych's JAX BatchNorm (`layers.norm`) applies
#: the n / (n - 1) correction before averaging, PyTorch's rule
BN_RUNNING_VAR = "unbiased"
#: exporter to use where export time matters (benchmarks): jax2tf + tf2onnx, the only one
FAST_EXPORTER: str | None = None

__all__ = ["BN_RUNNING_VAR", "FAST_EXPORTER", "seed_rng", "set_threads", "version"]


def version() -> str:
    libs = f"jaxlib {jax.lib.__version__}, flax {flax.__version__}, optax {optax.__version__}"
    return f"{jax.__version__} ({libs})"


def devices() -> list[str]:
    """Where triptych runs JAX: the CPU only (``jax_platforms`` is ``cpu``)."""
    return ["cpu"]


def set_threads(n: int) -> None:
    """XLA's CPU threads. XLA has no flag for its thread count: it sizes its Eigen pool
    once, when the backend starts, from the CPUs this process may run on. So for ``n`` below
    those, the process is pinned to ``n`` of them (``os.sched_setaffinity``; one thread also
    turns Eigen's multi-threading off with ``--xla_cpu_multi_thread_eigen=false``). Call it
    before JAX's first use (the benchmark workers do); afterwards the pool stays as it is.
    (``intra_op_parallelism_threads=N``, often quoted, is TensorFlow's option: today's XLA
    reads that token as a flag file's name and aborts.)"""
    n = int(n)
    if n == 1 and "--xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        if 0 < n < len(cpus):
            os.sched_setaffinity(0, cpus[:n])


def seed_rng(built: list, seed: int) -> None:
    """Reseed each network's Dropout key (``jax.random.PRNGKey(seed)``)."""
    for b in built:
        b.native.key = jax.random.PRNGKey(int(seed))
