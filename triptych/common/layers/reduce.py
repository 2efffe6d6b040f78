"""Reductions over per-sample axes: mean, sum and max (ONNX ReduceMean/ReduceSum/ReduceMax),
e.g. CBAM's channel mean and max, a decomposed LayerNorm's statistics."""

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


@dataclass(frozen=True)
class _Reduce(Layer):
    """Reduces ``axes`` of the per-sample shape (batch excluded: 0 is C of (C, H, W), -1 is
    W; default all of them). ``keepdims`` (default True) keeps them as size 1; without it
    only reductions that leave a feature vector are allowed: the spatial axes of (C, H, W)
    (-> (C,)) and the tokens of (L, C) (-> (C,))."""

    axes: tuple[int, ...] = (0, 1, 2)
    keepdims: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        axes = (self.axes,) if isinstance(self.axes, int) else tuple(int(a) for a in self.axes)
        object.__setattr__(self, "axes", axes)
        if not axes:
            raise SpecError(f"{self.kind} axes must name at least one axis")

    def resolved_axes(self, shape: Shape) -> tuple[int, ...]:
        """``axes`` as sorted non-negative per-sample axes of ``shape``."""
        rank = len(shape)
        bad = [a for a in self.axes if not -rank <= a < rank]
        if bad:
            raise SpecError(
                f"{self.kind} axes {self.axes}: {bad} out of range for a rank-{rank} input "
                f"{shape} (allowed -{rank} .. {rank - 1}; the batch axis cannot be reduced)"
            )
        axes = tuple(sorted({a % rank for a in self.axes}))
        if len(axes) != len(self.axes):
            raise SpecError(f"{self.kind} axes {self.axes} repeat an axis")
        return axes

    def output_shape(self, shape: Shape) -> Shape:
        axes = self.resolved_axes(shape)
        if self.keepdims:
            return tuple(1 if i in axes else s for i, s in enumerate(shape))
        if len(shape) == 3 and axes == (1, 2):
            return (shape[0],)
        if len(shape) == 2 and axes == (0,):
            return (shape[1],)  # the mean over tokens
        raise SpecError(
            f"{self.kind} axes {self.axes} with keepdims=False on {shape}: allowed only the "
            "spatial axes (1, 2) of (C, H, W) or the tokens (0,) of (L, C); keep the dims "
            "otherwise"
        )

    def flops(self, shape: Shape) -> int:
        return numel(shape)


@vocabulary
@dataclass(frozen=True)
class ReduceMean(_Reduce):
    """Mean over ``axes`` (see `_Reduce`)."""

    kind: ClassVar[str] = "reduce_mean"


@vocabulary
@dataclass(frozen=True)
class ReduceSum(_Reduce):
    """Sum over ``axes`` (see `_Reduce`)."""

    kind: ClassVar[str] = "reduce_sum"


@vocabulary
@dataclass(frozen=True)
class ReduceMax(_Reduce):
    """Maximum over ``axes`` (see `_Reduce`)."""

    kind: ClassVar[str] = "reduce_max"
