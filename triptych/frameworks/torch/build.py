"""Spec -> ``torch.nn.Sequential``; canonical <-> native weights (identical layouts)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from triptych.common import spec as S


class MaskedDropout(nn.Dropout):
    """``nn.Dropout`` that, in train mode with a mask set (`set_dropout_masks`), multiplies
    by that mask (exact Dropout, `triptych.common.dropout`); otherwise PyTorch's own Dropout.
    Eval mode is the identity, and export sees plain ``nn.Dropout`` behaviour. The mask is a
    plain attribute, not a buffer: the state_dict is unchanged."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__(p)
        self.mask: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.mask is not None:
            return x * self.mask
        return super().forward(x)


@dataclass
class TorchBuilt:
    network: S.Network
    native: nn.Sequential


class ConstantUnflatten(nn.Module):
    """(N, C·H·W) -> (N, C, H, W) as ``reshape(-1, C, H, W)``: the exporters then write a
    Reshape to a constant shape that shape inference (and onnx2torch) can follow;
    ``nn.Unflatten`` exports through a Shape/Gather/Mod chain that leaves every value
    after it without a shape."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, *self.shape)


def _layer(layer: S.Layer, in_shape: S.Shape) -> nn.Module:
    if isinstance(layer, S.Dense):
        return nn.Linear(in_shape[0], layer.units, bias=layer.bias)
    if isinstance(layer, S.Conv2d):
        return nn.Conv2d(
            in_shape[0],
            layer.out_channels,
            layer.kernel,
            layer.stride,
            layer.padding,
            bias=layer.bias,
        )
    if isinstance(layer, S.ConvTranspose2d):
        return nn.ConvTranspose2d(
            in_shape[0],
            layer.out_channels,
            layer.kernel,
            layer.stride,
            layer.padding,
            bias=layer.bias,
        )
    if isinstance(layer, S.BatchNorm):
        cls = nn.BatchNorm1d if len(in_shape) == 1 else nn.BatchNorm2d
        return cls(in_shape[0], eps=layer.eps, momentum=layer.momentum)
    if isinstance(layer, S.ReLU):
        return nn.ReLU()
    if isinstance(layer, S.LeakyReLU):
        return nn.LeakyReLU(layer.negative_slope)
    if isinstance(layer, S.Sigmoid):
        return nn.Sigmoid()
    if isinstance(layer, S.Tanh):
        return nn.Tanh()
    if isinstance(layer, S.Dropout):
        return MaskedDropout(layer.p)
    if isinstance(layer, S.Flatten):
        return nn.Flatten() if len(in_shape) == 3 else nn.Identity()
    if isinstance(layer, S.Unflatten):
        return ConstantUnflatten(layer.shape)
    if isinstance(layer, S.MaxPool2d):
        return nn.MaxPool2d(layer.kernel, layer.effective_stride)
    raise TypeError(f"torch backend cannot build layer {layer!r}")


def build_network(network: S.Network) -> TorchBuilt:
    """Build ``network`` as an ``nn.Sequential`` whose state_dict keys are ``<index>.<name>``."""
    modules = [_layer(info.layer, info.input_shape) for info in network.infos]
    return TorchBuilt(network, nn.Sequential(*modules).float())


def set_weights(built: TorchBuilt, weights: dict[str, np.ndarray]) -> None:
    """Copy canonical tensors (keys ``<network>.<index>.<name>``) into the module, exactly."""
    prefix = built.network.name + "."
    state = built.native.state_dict()
    with torch.no_grad():
        for key, value in weights.items():
            local = key[len(prefix) :]
            state[local].copy_(torch.from_numpy(np.ascontiguousarray(value, np.float32)))


def get_weights(built: TorchBuilt) -> dict[str, np.ndarray]:
    """Canonical tensors of the module (``num_batches_tracked`` is not canonical: dropped)."""
    prefix = built.network.name + "."
    return {
        prefix + k: v.detach().cpu().numpy().copy()
        for k, v in built.native.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }


def forward(built: TorchBuilt, x: np.ndarray, training: bool = False) -> np.ndarray:
    """Run the module on NCHW numpy; training=True uses batch statistics and updates them."""
    module = built.native
    module.train(training)
    with torch.no_grad():
        y = module(torch.from_numpy(np.ascontiguousarray(x, np.float32)))
    module.train(False)
    return y.numpy()


def set_dropout_masks(built: TorchBuilt, masks: dict[int, np.ndarray] | None) -> None:
    """Exact Dropout: the canonical masks (layer index -> (N, *input shape)) for the next
    train-mode forwards; ``None`` clears them (PyTorch's own RNG again)."""
    for i, module in enumerate(built.native):
        if isinstance(module, MaskedDropout):
            m = None if masks is None else masks.get(i)
            module.mask = None if m is None else torch.from_numpy(np.ascontiguousarray(m))


def count_params(built: TorchBuilt) -> int:
    """Trainable parameters as PyTorch counts them."""
    return sum(p.numel() for p in built.native.parameters() if p.requires_grad)
