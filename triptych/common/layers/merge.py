"""Layers with several inputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from triptych.common.layers.base import (
    Layer,
    Shape,
    SpecError,
    numel,
    vocabulary,
)


@vocabulary
@dataclass(frozen=True)
class Add(Layer):
    """Elementwise sum of two or more tensors of the same shape (a residual connection).
    FLOPs: (n - 1) per element."""

    kind: ClassVar[str] = "add"
    merge: ClassVar[bool] = True

    def merge_shape(self, shapes: list[Shape]) -> Shape:
        if any(s != shapes[0] for s in shapes):
            raise SpecError(f"add needs inputs of one shape, got {shapes}")
        return shapes[0]

    def flops_multi(self, shapes: list[Shape]) -> int:
        return (len(shapes) - 1) * numel(shapes[0])


@vocabulary
@dataclass(frozen=True)
class Concat(Layer):
    """Concatenation along ``axis`` of the per-sample NCHW shape plus batch: 1 = channels
    (default), 2 = H, 3 = W; every other axis must agree."""

    axis: int = 1
    kind: ClassVar[str] = "concat"
    merge: ClassVar[bool] = True

    def merge_shape(self, shapes: list[Shape]) -> Shape:
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes) or not 1 <= self.axis <= rank:
            raise SpecError(f"concat axis {self.axis} on inputs {shapes}: ranks or axis invalid")
        a = self.axis - 1
        rest = [s[:a] + s[a + 1 :] for s in shapes]
        if any(r != rest[0] for r in rest):
            raise SpecError(
                f"concat along axis {self.axis} needs the other dims equal, got {shapes}"
            )
        return (*shapes[0][:a], sum(s[a] for s in shapes), *shapes[0][a + 1 :])

    def flops_multi(self, shapes: list[Shape]) -> int:
        return 0
