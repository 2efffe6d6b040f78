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
    """Fully connected layer: y = x Wᵀ + b. Canonical weight (out, in). Needs a flat input."""

    units: int
    bias: bool = True
    kind: ClassVar[str] = "dense"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (1,), "; add Flatten() before Dense")
        return (self.units,)

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        p = {"weight": (self.units, shape[0])}
        if self.bias:
            p["bias"] = (self.units,)
        return p

    def flops(self, shape: Shape) -> int:
        return 2 * shape[0] * self.units + (self.units if self.bias else 0)
