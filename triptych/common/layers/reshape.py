"""Layers that change the shape, not the values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from triptych.common.layers.base import (
    Layer,
    Shape,
    SpecError,
    _need_rank,
    numel,
    vocabulary,
)


@vocabulary
@dataclass(frozen=True)
class Flatten(Layer):
    """(C, H, W) -> (C·H·W,) in C, H, W order (PyTorch's order, on every framework); (L, C)
    tokens -> (L·C,) token by token. ``start`` is ``torch.flatten``'s ``start_dim``, batch
    axis included: 1 (the default) flattens the whole sample; 2 on (C, H, W) keeps the
    channels, (C, H·W), a rank-2 tensor the vocabulary treats as (L, C) tokens."""

    start: int = 1
    kind: ClassVar[str] = "flatten"
    omit_default: ClassVar[tuple[str, ...]] = ("start",)

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.start, bool) or self.start not in (1, 2):
            raise SpecError(
                f"flatten start {self.start!r}: allowed 1 (the whole sample) or 2 (a (C, H, W) "
                "image to (C, H·W)), counting the batch as axis 0"
            )
        object.__setattr__(self, "start", int(self.start))

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (1, 2, 3))
        if self.start == 1:
            return (numel(shape),)
        if len(shape) != 3:
            raise SpecError(
                f"flatten start=2 needs a (C, H, W) input, got the rank-{len(shape)} {shape}; "
                "start=1 is the only one allowed there"
            )
        return (shape[0], shape[1] * shape[2])


@vocabulary
@dataclass(frozen=True)
class Unflatten(Layer):
    """(F,) -> shape, with shape = (C, H, W) and F = C·H·W."""

    shape: tuple[int, int, int]
    kind: ClassVar[str] = "unflatten"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (1,))
        if len(self.shape) != 3:
            raise SpecError(f"unflatten target must be (C, H, W), got {self.shape}")
        if numel(self.shape) != shape[0]:
            raise SpecError(
                f"unflatten to {self.shape} needs {numel(self.shape)} features, "
                f"input has {shape[0]} (input shape {shape})"
            )
        return self.shape


@vocabulary
@dataclass(frozen=True)
class Identity(Layer):
    """Returns its input (a named tap point, or what an imported Dropout/Identity becomes)."""

    kind: ClassVar[str] = "identity"
    featurewise: ClassVar[bool] = True


@vocabulary
@dataclass(frozen=True)
class ChannelShuffle(Layer):
    """(C, H, W): channels regrouped as (groups, C/groups) -> (C/groups, groups)
    (ShuffleNet's shuffle: reshape, transpose, reshape)."""

    groups: int = 2
    kind: ClassVar[str] = "channel_shuffle"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        if self.groups < 1 or shape[0] % self.groups:
            raise SpecError(
                f"channel_shuffle groups {self.groups} must divide the channels ({shape[0]})"
            )
        return shape


@vocabulary
@dataclass(frozen=True)
class Slice(Layer):
    """Elements ``start`` to ``stop`` (exclusive) along ``axis`` (1 = channels, 2 = H,
    3 = W, as `Concat`); several Slices of one tensor are a split (ShuffleNetV2's chunk)."""

    start: int
    stop: int
    axis: int = 1
    kind: ClassVar[str] = "slice"

    def output_shape(self, shape: Shape) -> Shape:
        if not 1 <= self.axis <= len(shape):
            raise SpecError(f"slice axis {self.axis} on a {len(shape)}-D input {shape}")
        size = shape[self.axis - 1]
        if not 0 <= self.start < self.stop <= size:
            raise SpecError(
                f"slice {self.start}:{self.stop} along axis {self.axis} of size {size}: "
                "need 0 <= start < stop <= size"
            )
        out = list(shape)
        out[self.axis - 1] = self.stop - self.start
        return tuple(out)
