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
    """XLA's CPU threads, as far as XLA lets a caller choose them. XLA has no flag for its
    thread count: it sizes its Eigen pool once, when the backend starts, from the CPUs the
    process may run on. One thread is a flag (``--xla_cpu_multi_thread_eigen=false``,
    honoured when set before JAX's first use); more than one but fewer than the CPUs takes
    pinning the process before it starts (``taskset -c 0-1 ...``): pinning it here would
    also pin every local data-parallel worker to the same CPUs. (``intra_op_parallelism_
    threads=N``, often quoted, is TensorFlow's option: today's XLA reads that token as a flag
    file's name and aborts.)"""
    flags = os.environ.get("XLA_FLAGS", "")
    if int(n) == 1 and "--xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()


def seed_rng(built: list, seed: int) -> None:
    """Reseed each network's Dropout key (``jax.random.PRNGKey(seed)``)."""
    for b in built:
        b.native.key = jax.random.PRNGKey(int(seed))
