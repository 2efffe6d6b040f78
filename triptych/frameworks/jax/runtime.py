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
    """XLA's CPU threads. XLA sizes its Eigen pool once, when the backend starts, from
    ``XLA_FLAGS`` (``--xla_cpu_multi_thread_eigen``, ``intra_op_parallelism_threads``): the
    flags are set here for a backend that has not started yet; once it has, the pool stays
    as it is (a process that must run JAX on fewer threads sets them before first use: the
    benchmark workers call this before building)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "intra_op_parallelism_threads" in flags:
        return
    single = " --xla_cpu_multi_thread_eigen=false" if int(n) == 1 else ""
    os.environ["XLA_FLAGS"] = f"{flags}{single} intra_op_parallelism_threads={int(n)}".strip()


def seed_rng(built: list, seed: int) -> None:
    """Reseed each network's Dropout key (``jax.random.PRNGKey(seed)``)."""
    for b in built:
        b.native.key = jax.random.PRNGKey(int(seed))
