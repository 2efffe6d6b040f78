"""Element-wise activations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from triptych.common.layers.base import (
    Layer,
    Shape,
    numel,
    vocabulary,
)


@dataclass(frozen=True)
class _Activation(Layer):
    featurewise: ClassVar[bool] = True

    def flops(self, shape: Shape) -> int:
        return numel(shape)


@vocabulary
@dataclass(frozen=True)
class ReLU(_Activation):
    kind: ClassVar[str] = "relu"


@vocabulary
@dataclass(frozen=True)
class LeakyReLU(_Activation):
    """max(x, negative_slope·x); default slope 0.01 as in PyTorch (DCGAN uses 0.2)."""

    negative_slope: float = 0.01
    kind: ClassVar[str] = "leaky_relu"


@vocabulary
@dataclass(frozen=True)
class Sigmoid(_Activation):
    kind: ClassVar[str] = "sigmoid"


@vocabulary
@dataclass(frozen=True)
class Tanh(_Activation):
    kind: ClassVar[str] = "tanh"
