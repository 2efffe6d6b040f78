"""The MXNet/Gluon backend (imports mxnet after its numpy cure; loaded lazily)."""

from __future__ import annotations

import ctypes

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

    def make_trainer(self, chain, loss: str, optimizer):
        """``step(x, target) -> loss`` over a chain of built networks; imports lazily."""
        from triptych.frameworks.mxnet.train import make_trainer

        return make_trainer(chain, loss, optimizer)

    def export_network(self, built, opset: int, exporter: str | None = None):
        """Raw ONNX (post-processing is common, in ``triptych.export``); imports lazily."""
        from triptych.frameworks.mxnet.export import export_network

        return export_network(built, opset, exporter)


BACKEND = MxnetBackend()
