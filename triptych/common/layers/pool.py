"""Pooling layers: windowed max/average (``ceil_mode``, ``count_include_pad``), global
average/max (optionally keeping H and W as 1), adaptive average to a fixed size (any input
size, PyTorch's windows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from triptych.common.layers.base import (
    Layer,
    Shape,
    SpecError,
    _check,
    _need_rank,
    kernel_hw,
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


def adaptive_windows(n: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive windows along an axis of ``n`` to ``out`` outputs: window i is
    [floor(i·n/out), ceil((i+1)·n/out)) (they may overlap and differ in length)."""
    return [((i * n) // out, -(-((i + 1) * n) // out)) for i in range(out)]


def adaptive_matrix(n: int, out: int) -> list[list[float]]:
    """(out, n): the averaging matrix of `adaptive_windows` (row i is 1/len over window
    i, 0 elsewhere), so the pool along an axis is one matmul; backends make it in their
    build dtype (float64 builds use 1/len in float64)."""
    rows = []
    for start, end in adaptive_windows(n, out):
        rows.append([1.0 / (end - start) if start <= j < end else 0.0 for j in range(n)])
    return rows


@vocabulary
@dataclass(frozen=True)
class AdaptiveAvgPool2d(Layer):
    """(C, H, W) -> (C, out_h, out_w): ``nn.AdaptiveAvgPool2d(size)`` for any H and W;
    ``size`` an int (square) or (height, width). With H and W multiples of the output size
    the windows are equal (H/out_h x W/out_w), an ordinary average pool in every framework
    and ONNX's AveragePool; otherwise (`uneven`) they follow `adaptive_windows` (overlapping,
    of different lengths; the output may be larger than the input), which backends compute
    as P_h · X · P_wᵀ with constant `adaptive_matrix` P (exact, and portable to ONNX as
    MatMul)."""

    size: int | tuple[int, int] = 1
    kind: ClassVar[str] = "adaptive_avgpool2d"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.size, int):  # a JSON list, or a square pair, reads back
            sh, sw = kernel_hw(self.size)
            object.__setattr__(self, "size", sh if sh == sw else (sh, sw))

    @property
    def size_hw(self) -> tuple[int, int]:
        """(output height, output width)."""
        return kernel_hw(self.size)

    def uneven(self, shape: Shape) -> bool:
        """Whether H or W is not a multiple of its output size (unequal windows)."""
        (oh, ow), (_, h, w) = self.size_hw, shape
        return h % oh != 0 or w % ow != 0

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        oh, ow = self.size_hw
        _check(oh >= 1 and ow >= 1, f"adaptive_avgpool2d size {self.size} must be >= 1")
        return (shape[0], oh, ow)

    def flops(self, shape: Shape) -> int:
        (_, h, w), (oh, ow) = shape, self.size_hw
        rows = sum(e - s for s, e in adaptive_windows(h, oh))
        cols = sum(e - s for s, e in adaptive_windows(w, ow))
        return shape[0] * rows * cols  # every window's area (numel(shape) when even)
