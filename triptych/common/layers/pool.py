"""Pooling layers: windowed max/average (``ceil_mode``, ``count_include_pad``), global
average/max (optionally keeping H and W as 1), adaptive average to a fixed size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from triptych.common.layers.base import (
    Layer,
    Shape,
    SpecError,
    _check,
    _need_rank,
    numel,
    vocabulary,
    window_out,
)


@dataclass(frozen=True)
class _Pool2d(Layer):
    """Square window; stride defaults to the kernel size; symmetric explicit padding
    (at most half the kernel, as in PyTorch); ``ceil_mode`` rounds the output size up
    (the last window may hang over the bottom/right edge, never start in the padding)."""

    kernel: int = 2
    stride: int | None = None
    padding: int = 0
    ceil_mode: bool = False
    omit_default: ClassVar[tuple[str, ...]] = ("ceil_mode", "count_include_pad")
    #: spacing of the window's taps (MaxPool2d's argument; average pools have none)
    dilation: ClassVar[int] = 1

    @property
    def effective_stride(self) -> int:
        return self.stride or self.kernel

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        c, h, w = shape
        if not 0 <= 2 * self.padding <= self.kernel:
            raise SpecError(
                f"{self.kind} padding {self.padding} must be between 0 and kernel/2 "
                f"(kernel {self.kernel})"
            )
        _check(self.dilation >= 1, f"{self.kind} dilation {self.dilation} must be >= 1")
        span = (self.kernel - 1) * self.dilation + 1
        if span > h + 2 * self.padding or span > w + 2 * self.padding:
            raise SpecError(
                f"{self.kind} kernel {self.kernel} (dilation {self.dilation}) is larger than "
                f"its input {h}x{w} (input shape {shape}, padding {self.padding})"
            )
        s, p, k, d = self.effective_stride, self.padding, self.kernel, self.dilation
        return (
            c,
            window_out(h, k, s, p, p, d, ceil=self.ceil_mode),
            window_out(w, k, s, p, p, d, ceil=self.ceil_mode),
        )

    def flops(self, shape: Shape) -> int:
        return numel(self.output_shape(shape)) * self.kernel * self.kernel


@vocabulary
@dataclass(frozen=True)
class MaxPool2d(_Pool2d):
    """Max pooling; padding counts as -inf (PyTorch's rule). ``dilation``: spacing of the
    window's taps (ONNX MaxPool's ``dilations``, PyTorch's ``dilation``)."""

    dilation: int = 1  # type: ignore[misc]  (a field here, a ClassVar 1 on average pools)
    kind: ClassVar[str] = "maxpool2d"
    omit_default: ClassVar[tuple[str, ...]] = ("ceil_mode", "padding", "dilation")


@vocabulary
@dataclass(frozen=True)
class AvgPool2d(_Pool2d):
    """Average pooling; with ``count_include_pad`` (PyTorch's default) zero padding counts
    in the average, without it only the input pixels under the window do."""

    count_include_pad: bool = True
    kind: ClassVar[str] = "avgpool2d"


@dataclass(frozen=True)
class _GlobalPool(Layer):
    keepdims: bool = False
    omit_default: ClassVar[tuple[str, ...]] = ("keepdims",)

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        return (shape[0], 1, 1) if self.keepdims else (shape[0],)

    def flops(self, shape: Shape) -> int:
        return numel(shape)


@vocabulary
@dataclass(frozen=True)
class GlobalAvgPool(_GlobalPool):
    """(C, H, W) -> (C,) (or (C, 1, 1) with ``keepdims``): the mean over H and W."""

    kind: ClassVar[str] = "global_avgpool"


@vocabulary
@dataclass(frozen=True)
class GlobalMaxPool(_GlobalPool):
    """(C, H, W) -> (C,) (or (C, 1, 1) with ``keepdims``): the maximum over H and W."""

    kind: ClassVar[str] = "global_maxpool"


@vocabulary
@dataclass(frozen=True)
class AdaptiveAvgPool2d(Layer):
    """(C, H, W) -> (C, size, size): average pooling to a fixed output size, as
    ``nn.AdaptiveAvgPool2d`` with H and W multiples of ``size`` (then equal windows of
    H/size x W/size: what every framework and ONNX's AveragePool compute alike)."""

    size: int = 1
    kind: ClassVar[str] = "adaptive_avgpool2d"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        c, h, w = shape
        _check(
            self.size >= 1 and h % self.size == 0 and w % self.size == 0,
            f"adaptive_avgpool2d to {self.size}x{self.size} needs H and W multiples of "
            f"{self.size}, got {h}x{w}",
        )
        return (c, self.size, self.size)

    def flops(self, shape: Shape) -> int:
        return numel(shape)
