"""Normalisation layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from triptych.common.layers.base import (
    Layer,
    Shape,
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
