"""Chainer runtime facts: version, threads, the RNG behind Dropout, BatchNorm's estimator.
Chainer computes with numpy on CPU, so its threads are numpy's BLAS threads."""

from __future__ import annotations

import numpy as np

from triptych.frameworks.chainer.compat import chainer

#: how BatchNorm tracks running variance: Chainer's BatchNormalization applies the
#: m / (m - 1) correction before averaging, PyTorch's rule
BN_RUNNING_VAR = "unbiased"
#: exporter to use where export time matters (benchmarks): onnx-chainer, the only one
FAST_EXPORTER: str | None = None

__all__ = ["BN_RUNNING_VAR", "FAST_EXPORTER", "seed_rng", "set_threads", "version"]


def version() -> str:
    return f"{chainer.__version__} (numpy {np.__version__})"


def set_threads(n: int) -> None:
    """numpy's BLAS threads (threadpoolctl: OpenBLAS/MKL in this process), Chainer's only
    parallelism on CPU."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(int(n))


def seed_rng(built: list, seed: int) -> None:
    """Reseed each network's Dropout generator (a ``numpy.random.Generator``)."""
    for b in built:
        b.native.rng = np.random.default_rng(int(seed))
