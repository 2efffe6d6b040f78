"""Dropout (exact masks in training parity: `triptych.common.dropout`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from triptych.common.layers.base import (
    Layer,
    Shape,
    SpecError,
    vocabulary,
)


@vocabulary
@dataclass(frozen=True)
class Dropout(Layer):
    """Zeroes elements with probability p in training (scaling the rest by 1/(1-p)).

    With exact Dropout (`Model.fit`'s default, and always in training parity) the masks come
    from the common seeded stream per (seed, step, network, layer) (`common/dropout.py`), so
    every framework applies the same one; otherwise each framework's own RNG draws them.
    Eval mode is the identity everywhere.
    """

    p: float = 0.5
    kind: ClassVar[str] = "dropout"
    featurewise: ClassVar[bool] = True

    def output_shape(self, shape: Shape) -> Shape:
        if not 0.0 <= self.p < 1.0:
            raise SpecError(f"dropout p must be in [0, 1), got {self.p}")
        return shape

    def mask_shape(self, shape: Shape) -> Shape:
        """Per-sample shape of this layer's keep-mask on an input of ``shape`` (batch
        excluded): every element draws its own keep."""
        return shape


@vocabulary
@dataclass(frozen=True)
class StochasticDepth(Dropout):
    """Stochastic depth (torchvision's ``StochasticDepth(p, "row")``, timm's DropPath) on a
    residual branch: in training each sample's whole input is zeroed with probability p and
    the kept samples scaled by 1/(1-p); the identity in eval mode. Exact masks in training
    parity as Dropout's, one keep per sample (mask shape (batch, 1, ..., 1))."""

    kind: ClassVar[str] = "stochastic_depth"

    def mask_shape(self, shape: Shape) -> Shape:
        return (1,) * len(shape)
