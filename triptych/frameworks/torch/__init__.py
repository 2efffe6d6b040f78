"""The PyTorch backend (imports torch; loaded lazily by `triptych.frameworks.base`)."""

from __future__ import annotations

from types import ModuleType

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

    def seed_rng(self, built: list, seed: int) -> None:
        """Seed the framework RNG that draws Dropout masks (``torch.manual_seed``)."""
        torch.manual_seed(int(seed))

    @property
    def train(self) -> ModuleType:
        """Its ``train`` module (steps: make_trainer, make_generator_step, ...), lazily."""
        from triptych.frameworks.torch import train

        return train

    @property
    def export(self) -> ModuleType:
        """Its ``export`` module (``export_network``), imported lazily (tf2onnx is slow)."""
        from triptych.frameworks.torch import export

        return export


BACKEND = TorchBackend()
