"""Normalisation layers and per-channel scales."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from triptych.common.layers.base import (
    Layer,
    Shape,
    SpecError,
    _need_rank,
    numel,
    vocabulary,
)


@vocabulary
@dataclass(frozen=True)
class BatchNorm(Layer):
    """Batch normalisation over the channel axis (1-D on (F,), 2-D on (C, H, W)).

    eps and momentum use PyTorch's convention (running = (1-momentum)·running +
    momentum·batch). Defaults: eps 1e-5, momentum 0.1.
    """

    eps: float = 1e-5
    momentum: float = 0.1
    kind: ClassVar[str] = "batchnorm"
    featurewise: ClassVar[bool] = True

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (1, 3))
        return shape

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        return {"weight": (shape[0],), "bias": (shape[0],)}

    def buffer_shapes(self, shape: Shape) -> dict[str, Shape]:
        return {"running_mean": (shape[0],), "running_var": (shape[0],)}

    def flops(self, shape: Shape) -> int:
        return 2 * numel(shape)


def BatchNorm1d(eps: float = 1e-5, momentum: float = 0.1) -> BatchNorm:
    """Alias of `BatchNorm` for readers coming from PyTorch (rank is inferred)."""
    return BatchNorm(eps=eps, momentum=momentum)


BatchNorm2d = BatchNorm1d


@vocabulary
@dataclass(frozen=True)
class LayerNorm2d(Layer):
    """Layer normalisation over the channels of each pixel of a (C, H, W) tensor (ConvNeXt's
    ``LayerNorm2d``; a (F,) tensor is normalised over its features): (x - mean) /
    sqrt(var + eps) · weight + bias, biased variance, weight 1 and bias 0 initially."""

    eps: float = 1e-6
    kind: ClassVar[str] = "layer_norm2d"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (1, 3))
        return shape

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        return {"weight": (shape[0],), "bias": (shape[0],)}

    def initial_values(self, shape: Shape) -> dict[str, float] | None:
        return {"weight": 1.0, "bias": 0.0}

    def flops(self, shape: Shape) -> int:
        return 5 * numel(shape)


@vocabulary
@dataclass(frozen=True)
class LayerNorm(Layer):
    """Layer normalisation over the last axis (PyTorch's ``nn.LayerNorm(C)``): of each token
    of (L, C), or of a (F,) vector: (x - mean) / sqrt(var + eps) · weight + bias, biased
    variance, weight 1 and bias 0 initially."""

    eps: float = 1e-5
    kind: ClassVar[str] = "layer_norm"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (1, 2))
        return shape

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        return {"weight": (shape[-1],), "bias": (shape[-1],)}

    def initial_values(self, shape: Shape) -> dict[str, float] | None:
        return {"weight": 1.0, "bias": 0.0}

    def flops(self, shape: Shape) -> int:
        return 5 * numel(shape)


@vocabulary
@dataclass(frozen=True)
class RMSNorm(Layer):
    """Root-mean-square normalisation over the last axis (PyTorch's ``nn.RMSNorm(C,
    eps)``, T5's and LLaMA's norm): x / sqrt(mean(x²) + eps) · weight, weight (C,)
    initially 1, no bias and no centring. ``eps`` default 1e-6."""

    eps: float = 1e-6
    kind: ClassVar[str] = "rms_norm"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (1, 2))
        return shape

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        return {"weight": (shape[-1],)}

    def initial_values(self, shape: Shape) -> dict[str, float] | None:
        return {"weight": 1.0}

    def flops(self, shape: Shape) -> int:
        return 4 * numel(shape)


@vocabulary
@dataclass(frozen=True)
class LayerScale(Layer):
    """A learned per-channel scale (ConvNeXt's layer scale): x · weight, weight (C,)
    initially ``init`` (ConvNeXt's 1e-6)."""

    init: float = 1e-6
    kind: ClassVar[str] = "layer_scale"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (1, 3))
        return shape

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        return {"weight": (shape[0],)}

    def initial_values(self, shape: Shape) -> dict[str, float] | None:
        return {"weight": self.init}

    def flops(self, shape: Shape) -> int:
        return numel(shape)


@vocabulary
@dataclass(frozen=True)
class ChannelAffine(Layer):
    """A fixed per-channel affine x · scale + offset (no weights: Keras ``Rescaling`` and
    ``Normalization`` layers, input preprocessing). ``scale`` and ``offset`` hold one value
    for every channel or one per channel."""

    scale: tuple[float, ...] = (1.0,)
    offset: tuple[float, ...] = (0.0,)
    kind: ClassVar[str] = "channel_affine"
    featurewise: ClassVar[bool] = False

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (1, 3))
        for what, values in (("scale", self.scale), ("offset", self.offset)):
            if len(values) not in (1, shape[0]):
                raise SpecError(
                    f"channel_affine {what} has {len(values)} values; allowed 1 or one per "
                    f"channel ({shape[0]})"
                )
        return shape

    def flops(self, shape: Shape) -> int:
        return 2 * numel(shape)


def Rescaling(scale: float, offset: float = 0.0) -> ChannelAffine:
    """Keras ``Rescaling``: x · scale + offset (e.g. 1/255, or 1/127.5 and -1)."""
    return ChannelAffine((float(scale),), (float(offset),))


def Normalization(
    mean: tuple[float, ...], variance: tuple[float, ...], epsilon: float = 1e-7
) -> ChannelAffine:
    """Keras ``Normalization`` with adapted statistics: (x - mean) / max(sqrt(variance),
    epsilon) per channel (Keras' rule), as one `ChannelAffine`."""
    std = [max(float(v) ** 0.5, epsilon) for v in variance]
    return ChannelAffine(
        tuple(1.0 / s for s in std), tuple(-m / s for m, s in zip(mean, std, strict=True))
    )
