"""The PyTorch backend (imports torch; loaded lazily by `triptych.frameworks.base`)."""

from __future__ import annotations

import torch

from triptych.frameworks.torch import build as native_build


class TorchBackend:
    """PyTorch eager modules; canonical layout is PyTorch's own, so no conversion."""

    name = "torch"
    #: how BatchNorm tracks running variance: "unbiased" (PyTorch rule) or "biased"
    bn_running_var = "unbiased"
    build = staticmethod(native_build.build_network)
    set_weights = staticmethod(native_build.set_weights)
    get_weights = staticmethod(native_build.get_weights)
    forward = staticmethod(native_build.forward)
    count_params = staticmethod(native_build.count_params)

    def version(self) -> str:
        return torch.__version__

    def set_threads(self, n: int) -> None:
        """Intra-op threads (``torch.set_num_threads``); inter-op is left at its default."""
        torch.set_num_threads(int(n))

    def make_trainer(self, chain, loss: str, optimizer):
        """``step(x, target) -> loss`` over a chain of built networks; imports lazily."""
        from triptych.frameworks.torch.train import make_trainer

        return make_trainer(chain, loss, optimizer)

    def export_network(self, built, opset: int, exporter: str | None = None):
        """Raw ONNX (post-processing is common, in ``triptych.export``); imports lazily."""
        from triptych.frameworks.torch.export import export_network

        return export_network(built, opset, exporter)


BACKEND = TorchBackend()
