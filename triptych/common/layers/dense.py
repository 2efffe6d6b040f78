"""Dense layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from triptych.common.layers.base import (
    Layer,
    Shape,
    _need_rank,
    vocabulary,
)


@vocabulary
@dataclass(frozen=True)
class Dense(Layer):
    """Fully connected layer: y = x Wᵀ + b over the last axis. Canonical weight (out, in).
    Takes a flat (F,) input, or (L, C) tokens (each token: PyTorch's ``nn.Linear`` on the
    last axis)."""

    units: int
    bias: bool = True
    kind: ClassVar[str] = "dense"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (1, 2), "; add Flatten() before Dense")
        return (*shape[:-1], self.units)

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        p = {"weight": (self.units, shape[-1])}
        if self.bias:
            p["bias"] = (self.units,)
        return p

    def flops(self, shape: Shape) -> int:
        rows = shape[0] if len(shape) == 2 else 1
        return rows * (2 * shape[-1] * self.units + (self.units if self.bias else 0))
