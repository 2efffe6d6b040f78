"""Convolutions (PyTorch layout: weight (out, in, kh, kw); transposed (in, out, kh, kw))."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from triptych.common.layers.base import (
    Layer,
    Shape,
    SpecError,
    _conv_out,
    _need_rank,
    vocabulary,
)


@vocabulary
@dataclass(frozen=True)
class Conv2d(Layer):
    """2-D convolution, square kernel, symmetric explicit zero padding. Weight OIHW."""

    out_channels: int
    kernel: int = 3
    stride: int = 1
    padding: int = 0
    bias: bool = True
    kind: ClassVar[str] = "conv2d"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        _, h, w = shape
        if self.kernel > h + 2 * self.padding or self.kernel > w + 2 * self.padding:
            raise SpecError(
                f"conv2d kernel {self.kernel} is larger than its padded input "
                f"{h + 2 * self.padding}x{w + 2 * self.padding} (input shape {shape},"
                f" padding {self.padding})"
            )
        return (
            self.out_channels,
            _conv_out(h, self.kernel, self.stride, self.padding),
            _conv_out(w, self.kernel, self.stride, self.padding),
        )

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        p = {"weight": (self.out_channels, shape[0], self.kernel, self.kernel)}
        if self.bias:
            p["bias"] = (self.out_channels,)
        return p

    def flops(self, shape: Shape) -> int:
        c_out, h_out, w_out = self.output_shape(shape)
        macs = shape[0] * self.kernel * self.kernel * c_out * h_out * w_out
        return 2 * macs + (c_out * h_out * w_out if self.bias else 0)


@vocabulary
@dataclass(frozen=True)
class ConvTranspose2d(Layer):
    """Transposed 2-D convolution (output_padding 0). Weight IOHW (PyTorch layout).

    Output size (H-1)·stride - 2·padding + kernel; k=4, s=2, p=1 doubles H and W.
    """

    out_channels: int
    kernel: int = 4
    stride: int = 2
    padding: int = 1
    bias: bool = True
    kind: ClassVar[str] = "conv_transpose2d"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        _, h, w = shape
        if 2 * self.padding >= self.kernel:
            raise SpecError(
                f"conv_transpose2d padding {self.padding} must be < kernel/2 (kernel {self.kernel})"
            )
        return (
            self.out_channels,
            (h - 1) * self.stride - 2 * self.padding + self.kernel,
            (w - 1) * self.stride - 2 * self.padding + self.kernel,
        )

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        p = {"weight": (shape[0], self.out_channels, self.kernel, self.kernel)}
        if self.bias:
            p["bias"] = (self.out_channels,)
        return p

    def flops(self, shape: Shape) -> int:
        c_out, h_out, w_out = self.output_shape(shape)
        macs = shape[0] * shape[1] * shape[2] * self.kernel * self.kernel * c_out
        return 2 * macs + (c_out * h_out * w_out if self.bias else 0)
