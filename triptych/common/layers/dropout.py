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
