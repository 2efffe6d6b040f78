"""MXNet/Gluon runtime facts: version, threads, the RNG behind Dropout, BatchNorm's
estimator. Importing it imports mxnet after its cures (`compat`)."""

from __future__ import annotations

import ctypes

from triptych.frameworks.mxnet import onednn
from triptych.frameworks.mxnet.compat import ONEDNN, mx

#: Gluon tracks the biased batch variance; PyTorch the unbiased one (n/(n-1) ×)
BN_RUNNING_VAR = "biased"
#: exporter to use where export time matters (benchmarks): mx2onnx, the only one
FAST_EXPORTER: str | None = None


def version() -> str:
    """MXNet's version and whether its oneDNN kernels run (every benchmark cell and
    ``triptych info`` show it), e.g. ``1.9.1 (oneDNN on)``."""
    return f"{mx.__version__} (oneDNN {'on' if onednn.enabled() else 'off'})"


def notes() -> list[str]:
    """What a user should know about this install on this machine (``triptych info``):
    whether oneDNN runs here and why (`triptych.frameworks.mxnet.onednn_policy`)."""
    return [ONEDNN.reason]


def set_threads(n: int) -> None:
    """OpenMP threads of MXNet's operators (``MXSetNumOMPThreads``)."""
    mx.base.check_call(mx.base._LIB.MXSetNumOMPThreads(ctypes.c_int(int(n))))


def seed_rng(built: list, seed: int) -> None:
    """Seed MXNet's RNG that draws Dropout masks (``mx.random.seed``)."""
    mx.random.seed(int(seed) % (1 << 31))
