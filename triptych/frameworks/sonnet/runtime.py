"""Sonnet runtime facts: version, threads (TensorFlow's), the RNG behind Dropout, BatchNorm's
estimator. Importing it imports TensorFlow and Sonnet (see `compat`)."""

from __future__ import annotations

from triptych.frameworks.sonnet.compat import snt, tf
from triptych.frameworks.tensorflow.runtime import set_threads

#: how BatchNorm tracks running variance: `layers.norm.TorchBatchNorm` follows PyTorch's rule
BN_RUNNING_VAR = "unbiased"
#: exporter to use where export time matters (benchmarks): tf2onnx, the only one
FAST_EXPORTER: str | None = None

__all__ = ["BN_RUNNING_VAR", "FAST_EXPORTER", "seed_rng", "set_threads", "version"]


def version() -> str:
    return f"{snt.__version__} (tensorflow {tf.__version__})"


def seed_rng(built: list, seed: int) -> None:
    """Reseed each network's Dropout generator (``tf.random.Generator``) from ``seed``."""
    for b in built:
        b.native.rng.reset_from_seed(int(seed))
