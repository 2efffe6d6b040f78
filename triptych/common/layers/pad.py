"""Explicit padding of an image: constant, reflect or edge (ONNX ``Pad``'s modes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from triptych.common.layers.base import (
    Layer,
    Pads,
    Shape,
    SpecError,
    _need_rank,
    numel,
    vocabulary,
)

PAD_MODES = ("constant", "reflect", "edge")


@vocabulary
@dataclass(frozen=True)
class Pad(Layer):
    """Pads H and W of a (C, H, W) tensor. ``pads``: an int (every side) or (top, left,
    bottom, right), ints >= 0. ``mode``: ``"constant"`` (``value``, default 0.0),
    ``"reflect"`` (mirror without repeating the edge pixel, PyTorch's ReflectionPad2d; each
    pad < that side's size) or ``"edge"`` (repeat the edge pixel, ReplicationPad2d)."""

    pads: int | Pads = 1
    mode: str = "constant"
    value: float = 0.0
    kind: ClassVar[str] = "pad"

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.pads, int):
            object.__setattr__(self, "pads", (self.pads,) * 4)
        pads = tuple(self.pads)
        if len(pads) != 4 or not all(isinstance(p, int) and p >= 0 for p in pads):
            raise SpecError(
                f"pad pads {self.pads!r}: allowed an int or (top, left, bottom, right) ints >= 0"
            )
        object.__setattr__(self, "pads", pads)
        if self.mode not in PAD_MODES:
            raise SpecError(f"pad mode {self.mode!r}: allowed {', '.join(PAD_MODES)}")
        if self.mode != "constant" and self.value != 0.0:
            raise SpecError(
                f"pad value {self.value} is only used by mode 'constant', not {self.mode!r}"
            )

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        c, h, w = shape
        t, left, b, r = self.pads  # type: ignore[misc]
        if self.mode == "reflect" and (max(t, b) >= h or max(left, r) >= w):
            raise SpecError(
                f"pad mode 'reflect' needs each pad < that side's size: pads {self.pads} "
                f"on {h}x{w} (input shape {shape})"
            )
        return (c, h + t + b, w + left + r)

    def flops(self, shape: Shape) -> int:
        return numel(self.output_shape(shape)) - numel(shape)
