"""The MXNet/Gluon backend (imports mxnet after its numpy cure; loaded lazily)."""

from __future__ import annotations

import ctypes
from types import ModuleType

from triptych.frameworks.mxnet import build as native_build
from triptych.frameworks.mxnet.compat import mx


class MxnetBackend:
    """Gluon HybridSequential blocks, NCHW and PyTorch layouts natively."""

    name = "mxnet"
    #: Gluon tracks the biased batch variance; PyTorch the unbiased one (n/(n-1) ×)
    bn_running_var = "biased"
    build = staticmethod(native_build.build_network)
    set_weights = staticmethod(native_build.set_weights)
    get_weights = staticmethod(native_build.get_weights)
    forward = staticmethod(native_build.forward)
    count_params = staticmethod(native_build.count_params)

    def version(self) -> str:
        return mx.__version__

    def set_threads(self, n: int) -> None:
        """OpenMP threads of MXNet's operators (``MXSetNumOMPThreads``)."""
        mx.base.check_call(mx.base._LIB.MXSetNumOMPThreads(ctypes.c_int(int(n))))

    def seed_rng(self, built: list, seed: int) -> None:
        """Seed MXNet's RNG that draws Dropout masks (``mx.random.seed``)."""
        mx.random.seed(int(seed) % (1 << 31))

    @property
    def train(self) -> ModuleType:
        """Its ``train`` module (steps: make_trainer, make_generator_step, ...), lazily."""
        from triptych.frameworks.mxnet import train

        return train

    @property
    def export(self) -> ModuleType:
        """Its ``export`` module (``export_network``), imported lazily (tf2onnx is slow)."""
        from triptych.frameworks.mxnet import export

        return export


BACKEND = MxnetBackend()
