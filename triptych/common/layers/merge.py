"""Layers with several inputs: element-wise arithmetic with broadcasting (a residual Add,
squeeze-and-excitation's ``x * gate``) and concatenation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from triptych.common.layers.base import Layer, Shape, SpecError, numel, vocabulary


def broadcast(kind: str, shapes: list[Shape]) -> Shape:
    """The broadcast per-sample shape of ``shapes`` (one rank; every size equal or 1, as
    ONNX and numpy broadcast); `SpecError` naming the shapes otherwise."""
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        raise SpecError(f"{kind} needs inputs of one rank, got {shapes}")
    out = []
    for sizes in zip(*shapes, strict=True):
        big = {d for d in sizes if d != 1}
        if len(big) > 1:
            raise SpecError(f"{kind}: shapes {shapes} do not broadcast (sizes must match or be 1)")
        out.append(big.pop() if big else 1)
    return tuple(out)


@dataclass(frozen=True)
class _Elementwise(Layer):
    """Element-wise over two or more inputs, broadcasting sizes of 1; FLOPs (n - 1) per
    output element."""

    merge: ClassVar[bool] = True

    def merge_shape(self, shapes: list[Shape]) -> Shape:
        return broadcast(self.kind, shapes)

    def flops_multi(self, shapes: list[Shape]) -> int:
        return (len(shapes) - 1) * numel(self.merge_shape(shapes))


@vocabulary
@dataclass(frozen=True)
class Add(_Elementwise):
    """Sum of the inputs (a residual connection)."""

    kind: ClassVar[str] = "add"


@vocabulary
@dataclass(frozen=True)
class Mul(_Elementwise):
    """Product of the inputs (a gate: squeeze-and-excitation's ``x * sigmoid(...)``)."""

    kind: ClassVar[str] = "mul"


@vocabulary
@dataclass(frozen=True)
class Sub(_Elementwise):
    """The first input minus the second (exactly two inputs)."""

    kind: ClassVar[str] = "sub"

    def merge_shape(self, shapes: list[Shape]) -> Shape:
        if len(shapes) != 2:
            raise SpecError(f"sub takes two inputs, got {len(shapes)}")
        return super().merge_shape(shapes)


@vocabulary
@dataclass(frozen=True)
class Div(Sub):
    """The first input divided by the second (exactly two inputs)."""

    kind: ClassVar[str] = "div"


@vocabulary
@dataclass(frozen=True)
class Maximum(_Elementwise):
    """Element-wise maximum of the inputs (ONNX Max)."""

    kind: ClassVar[str] = "maximum"


@vocabulary
@dataclass(frozen=True)
class Minimum(_Elementwise):
    """Element-wise minimum of the inputs (ONNX Min)."""

    kind: ClassVar[str] = "minimum"


@vocabulary
@dataclass(frozen=True)
class Concat(Layer):
    """Concatenation along ``axis`` of the per-sample NCHW shape plus batch: 1 = channels
    (default), 2 = H, 3 = W; every other axis must agree. One input is allowed (legal
    ONNX: DenseNet's first block concatenates a list of one)."""

    axis: int = 1
    kind: ClassVar[str] = "concat"
    merge: ClassVar[bool] = True
    min_inputs: ClassVar[int] = 1

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
