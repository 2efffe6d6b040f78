"""Convolutions (PyTorch layout: weight (out, in/groups, kh, kw); transposed (in,
out/groups, kh, kw)). Grouped and depthwise (``groups`` = input channels) convolutions,
dilation, and asymmetric or ``"same"`` zero padding, as ONNX's Conv/ConvTranspose have."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from triptych.common.layers.base import (
    Layer,
    Pads,
    Shape,
    SpecError,
    _check,
    _need_rank,
    kernel_hw,
    resolve_pads,
    vocabulary,
    window_out,
)


def _check_groups(layer: Layer, in_channels: int, out_channels: int, groups: int) -> None:
    _check(
        groups >= 1 and in_channels % groups == 0 and out_channels % groups == 0,
        f"{layer.kind} groups={groups} must divide the input channels ({in_channels}) and "
        f"the output channels ({out_channels})",
    )


@vocabulary
@dataclass(frozen=True)
class Conv2d(Layer):
    """2-D convolution. ``kernel``: an int (square) or (height, width) (Inception's 1x7 and
    7x1). ``padding``: an int (every side), (top, left, bottom, right), ``"same"`` (output
    ceil(H / stride), the odd pixel bottom/right) or ``"valid"``. ``groups``: grouped
    convolution (``groups`` = in channels: depthwise); ``dilation``: spacing of the kernel
    taps. Weight (out, in/groups, kh, kw)."""

    out_channels: int
    kernel: int | tuple[int, int] = 3
    stride: int = 1
    padding: int | Pads | str = 0
    bias: bool = True
    groups: int = 1
    dilation: int = 1
    kind: ClassVar[str] = "conv2d"
    omit_default: ClassVar[tuple[str, ...]] = ("groups", "dilation")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.kernel, int):
            kh, kw = kernel_hw(self.kernel)  # a JSON list, or a square pair, reads back
            object.__setattr__(self, "kernel", kh if kh == kw else (kh, kw))

    @property
    def kernel_hw(self) -> tuple[int, int]:
        """(kernel height, kernel width)."""
        return kernel_hw(self.kernel)

    def pads(self, shape: Shape) -> Pads:
        """(top, left, bottom, right) zero padding on an input of ``shape``."""
        return resolve_pads(self.padding, self.kernel, self.stride, self.dilation, *shape[1:])

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        c, h, w = shape
        _check_groups(self, c, self.out_channels, self.groups)
        kh, kw = self.kernel_hw
        _check(kh >= 1 and kw >= 1, f"conv2d kernel {self.kernel} must be >= 1")
        t, left, b, r = self.pads(shape)
        if (kh - 1) * self.dilation + 1 > h + t + b or (kw - 1) * self.dilation + 1 > w + left + r:
            raise SpecError(
                f"conv2d kernel {self.kernel} (dilation {self.dilation}) is larger than its "
                f"padded input {h + t + b}x{w + left + r} (input shape {shape}, padding "
                f"{self.padding})"
            )
        return (
            self.out_channels,
            window_out(h, kh, self.stride, t, b, self.dilation),
            window_out(w, kw, self.stride, left, r, self.dilation),
        )

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        p = {"weight": (self.out_channels, shape[0] // self.groups, *self.kernel_hw)}
        if self.bias:
            p["bias"] = (self.out_channels,)
        return p

    def flops(self, shape: Shape) -> int:
        c_out, h_out, w_out = self.output_shape(shape)
        kh, kw = self.kernel_hw
        macs = shape[0] // self.groups * kh * kw * c_out * h_out * w_out
        return 2 * macs + (c_out * h_out * w_out if self.bias else 0)


@vocabulary
@dataclass(frozen=True)
class ConvTranspose2d(Layer):
    """Transposed 2-D convolution. Weight (in, out/groups, k, k) (PyTorch layout).

    Output size (H-1)·stride - 2·padding + kernel + output_padding; k=4, s=2, p=1 doubles
    H and W. ``output_padding`` (< stride) adds rows/columns at the bottom/right."""

    out_channels: int
    kernel: int = 4
    stride: int = 2
    padding: int = 1
    bias: bool = True
    groups: int = 1
    output_padding: int = 0
    kind: ClassVar[str] = "conv_transpose2d"
    omit_default: ClassVar[tuple[str, ...]] = ("groups", "output_padding")

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        c, h, w = shape
        _check_groups(self, c, self.out_channels, self.groups)
        if 2 * self.padding >= self.kernel:
            raise SpecError(
                f"conv_transpose2d padding {self.padding} must be < kernel/2 (kernel {self.kernel})"
            )
        _check(
            0 <= self.output_padding < self.stride,
            f"conv_transpose2d output_padding {self.output_padding} must be in [0, stride "
            f"{self.stride})",
        )
        grow = -2 * self.padding + self.kernel + self.output_padding
        return (self.out_channels, (h - 1) * self.stride + grow, (w - 1) * self.stride + grow)

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        p = {"weight": (shape[0], self.out_channels // self.groups, self.kernel, self.kernel)}
        if self.bias:
            p["bias"] = (self.out_channels,)
        return p

    def flops(self, shape: Shape) -> int:
        c_out, h_out, w_out = self.output_shape(shape)
        per_group = c_out // self.groups
        macs = shape[0] * shape[1] * shape[2] * self.kernel * self.kernel * per_group
        return 2 * macs + (c_out * h_out * w_out if self.bias else 0)
