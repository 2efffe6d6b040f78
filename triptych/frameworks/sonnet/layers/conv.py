"""Conv2d and ConvTranspose2d, ``padding="VALID"`` with the padding explicit: ``tf.pad``
(the spec's (top, left, bottom, right), `S.Conv2d.pads`) before a convolution; a transposed
convolution's full (H-1)·s + k output cropped to PyTorch's size (p off the top/left, p -
output_padding off the bottom/right).

* Conv2d (kernel (kh, kw), `S.Conv2d.kernel_hw`: square or rectangular) -> ``snt.Conv2D``
  (w: HWIO; ``rate`` = dilation: ``tf.nn.convolution``'s space-to-batch form, whose
  gradients TensorFlow has on the CPU in float64 too; it takes no stride beside a rate, so
  a strided dilated convolution keeps every stride-th output); depthwise (``groups`` = in
  channels) -> ``snt.DepthwiseConv2D`` (w: (kh, kw, in, multiplier)); other groups ->
  `GroupedConv2D` (w: (kh, kw, in/groups, out)).
* ConvTranspose2d -> ``snt.Conv2DTranspose`` (w: (kh, kw, out, in)); grouped, or with an
  output_padding past the padding -> `TorchConv2DTranspose` (w: (kh, kw, out/groups, in)).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.common.layers.base import Pads
from triptych.frameworks.sonnet.compat import snt, tf
from triptych.frameworks.sonnet.layers.context import (
    CONVERTERS,
    WEIGHT_LAYOUTS,
    ZEROS,
    BuildContext,
    SonnetNode,
)
from triptych.frameworks.tensorflow import layout


def pad_sides(x: Any, pads: Pads, value: float = 0.0) -> Any:
    """Pad H and W of an NHWC tensor by ``pads`` (top, left, bottom, right) with ``value``."""
    top, left, bottom, right = pads
    if not any(pads):
        return x
    return tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], constant_values=value)


def crop_transposed(x: Any, p: int, length: tuple[int, int]) -> Any:
    """A transposed convolution's full NHWC output cropped to PyTorch's: ``p`` off the
    top/left, then ``length`` (H, W) rows and columns kept (at most what is left)."""
    if not p and tuple(x.shape[1:3]) == length:
        return x
    return x[:, p : p + length[0], p : p + length[1], :]


#: what TensorFlow raises for a kernel it lacks (Eigen: InvalidArgument; oneDNN: Aborted)
_NO_KERNEL = (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.AbortedError)


@functools.cache
def grouped_kernel_trains(dtype: str) -> bool:
    """Whether TensorFlow's ``Conv2D`` takes a grouped filter (input depth a multiple of the
    filter's) in ``dtype`` on this machine, gradients included: oneDNN's float32 CPU kernels
    (TensorFlow's default on x86) and GPUs do; Eigen's CPU kernels (float64, or oneDNN off)
    raise "Gradients for grouped convolutions are not supported on CPU"."""
    with tf.init_scope():  # eager even when a build is traced (and no tape records here)
        x = tf.ones((1, 2, 2, 4), dtype)  # two groups of two channels (a filter of one
        w = tf.ones((1, 1, 2, 2), dtype)  # channel per group passes on Eigen)
        try:
            y = tf.nn.conv2d(x, w, 1, "VALID")
            tf.raw_ops.Conv2DBackpropInput(
                input_sizes=x.shape, filter=w, out_backprop=y, strides=[1] * 4, padding="VALID"
            )
            tf.raw_ops.Conv2DBackpropFilter(
                input=x, filter_sizes=w.shape, out_backprop=y, strides=[1] * 4, padding="VALID"
            )
        except _NO_KERNEL:
            return False
    return True


class GroupedConv2D(snt.Module):
    """A grouped convolution (1 < ``groups`` < in channels), ``padding="VALID"``: w (kh, kw,
    in/groups, out) (the canonical weight's HWIO, as ``snt.Conv2D``'s), b (out,), both of
    ``dtype``. Where TensorFlow's ``Conv2D`` takes the grouped filter with gradients
    (`grouped_kernel_trains`: oneDNN's float32 kernels) it runs as one convolution (ONNX:
    one Conv with ``group``); otherwise (float64 on the CPU) as ``groups`` convolutions of
    the channel slices, concatenated: the same sums per output."""

    def __init__(
        self,
        shape: tuple[int, int, int, int],
        groups: int,
        stride: int,
        rate: int,
        with_bias: bool,
        name: str | None = None,
        dtype: str = "float32",
    ) -> None:
        super().__init__(name=name)
        self.groups, self.stride, self.rate = groups, stride, rate
        self.w = tf.Variable(tf.zeros(shape, dtype), name="w")
        self.b = tf.Variable(tf.zeros(shape[-1:], dtype), name="b") if with_bias else None
        self.split = not grouped_kernel_trains(dtype)

    def _conv(self, x: Any, w: Any) -> Any:
        return tf.nn.convolution(x, w, self.stride, "VALID", dilations=self.rate)

    def __call__(self, x: Any) -> Any:
        if self.split:
            xs = tf.split(x, self.groups, axis=-1)
            ws = tf.split(self.w, self.groups, axis=-1)
            y = tf.concat([self._conv(a, b) for a, b in zip(xs, ws, strict=True)], axis=-1)
        else:
            y = self._conv(x, self.w)
        return y if self.b is None else tf.nn.bias_add(y, self.b)


class TorchConv2DTranspose(snt.Module):
    """PyTorch's ConvTranspose2d where ``snt.Conv2DTranspose`` falls short, on input of
    (H, W) ``size``: w (kh, kw, out/groups, in) (the canonical (in, out/groups, kh, kw)
    weight's axes moved as ``snt.Conv2DTranspose``'s), b (out,), both of ``dtype``.

    ``groups`` > 1: group g's input channels through its filter slice w[..., g·in/groups :
    (g+1)·in/groups] to its out/groups output channels, the groups concatenated: TensorFlow
    has no grouped transposed convolution kernel on the CPU (oneDNN's float32 and Eigen's
    float64 both refuse a grouped filter). ``output_padding`` > ``padding``: the rows and
    columns past the full (H-1)·s + k output hold the bias alone (zero contributions), so
    the full output is zero-padded, not asked of the kernel at the larger size (tf2onnx
    writes that as negative ConvTranspose pads, which ONNX refuses); the bias comes last."""

    def __init__(
        self,
        layer: S.ConvTranspose2d,
        in_channels: int,
        size: tuple[int, int],
        name: str | None = None,
        dtype: str = "float32",
    ) -> None:
        super().__init__(name=name)
        k, s, g = layer.kernel, layer.stride, layer.groups
        self.groups, self.stride, self.p = g, s, layer.padding
        self.full = ((size[0] - 1) * s + k, (size[1] - 1) * s + k)
        self.extra = max(layer.output_padding - layer.padding, 0)
        self.length = tuple(n + layer.output_padding - 2 * self.p for n in self.full)
        shape = (k, k, layer.out_channels // g, in_channels)
        self.w = tf.Variable(tf.zeros(shape, dtype), name="w")
        out = layer.out_channels
        self.b = tf.Variable(tf.zeros((out,), dtype), name="b") if layer.bias else None

    def __call__(self, x: Any) -> Any:
        xs = tf.split(x, self.groups, axis=-1)
        ws = tf.split(self.w, self.groups, axis=-1)
        out = [tf.shape(x)[0], *self.full, int(self.w.shape[2])]
        ys = [
            tf.nn.conv2d_transpose(a, b, out, self.stride, "VALID")
            for a, b in zip(xs, ws, strict=True)
        ]
        y = tf.concat(ys, axis=-1) if len(ys) > 1 else ys[0]
        y = pad_sides(y, (0, 0, self.extra, self.extra))
        y = crop_transposed(y, self.p, self.length)
        return y if self.b is None else tf.nn.bias_add(y, self.b)


@CONVERTERS.register(S.Conv2d)
def conv2d(layer: S.Conv2d, ctx: BuildContext) -> SonnetNode:
    """Dilation with a stride runs at stride 1 and keeps every stride-th output:
    ``tf.nn.convolution`` and ``tf.nn.depthwise_conv2d`` take a rate > 1 only with stride 1
    (their space-to-batch form); the kept outputs are the strided convolution's own sums."""
    c, k, g = ctx.input_shape[0], layer.kernel_hw, layer.groups
    pads = layer.pads(ctx.input_shape)
    s = layer.stride if layer.dilation == 1 else 1
    step = layer.stride // s  # 1, or the stride taken after a dilated convolution
    common = {"stride": s, "rate": layer.dilation, "with_bias": layer.bias}
    if g == 1:
        mod = snt.Conv2D(
            layer.out_channels, k, padding="VALID", w_init=ZEROS, name=ctx.name, **common
        )
    elif g == c:
        mult = layer.out_channels // c
        mod = snt.DepthwiseConv2D(k, mult, padding="VALID", w_init=ZEROS, name=ctx.name, **common)
    else:
        shape = (*k, c // g, layer.out_channels)
        mod = GroupedConv2D(shape, g, name=ctx.name, dtype=ctx.dtype, **common)
    if step > 1:
        return SonnetNode(lambda xs, t: mod(pad_sides(xs[0], pads))[:, ::step, ::step, :], mod)
    return SonnetNode(lambda xs, t: mod(pad_sides(xs[0], pads)), mod)


@CONVERTERS.register(S.ConvTranspose2d)
def conv_transpose2d(layer: S.ConvTranspose2d, ctx: BuildContext) -> SonnetNode:
    k, s, shape, p = layer.kernel, layer.stride, ctx.input_shape, layer.padding
    if layer.groups > 1 or layer.output_padding > p:
        mod = TorchConv2DTranspose(layer, shape[0], shape[1:], ctx.name, ctx.dtype)
        return SonnetNode(lambda xs, t: mod(xs[0]), mod)
    full = ((shape[1] - 1) * s + k, (shape[2] - 1) * s + k)
    mod = snt.Conv2DTranspose(
        layer.out_channels,
        k,
        output_shape=full,
        stride=s,
        padding="VALID",
        with_bias=layer.bias,
        w_init=ZEROS,
        name=ctx.name,
    )
    length = tuple(n + layer.output_padding - 2 * p for n in full)
    return SonnetNode(lambda xs, t: crop_transposed(mod(xs[0]), p, length), mod)


def _depthwise_params(kernel: Any, bias: Any | None) -> layout.ParamMap:
    """A depthwise convolution's canonical (in·m, 1, kh, kw) weight (output channel i·m + j:
    input channel i's j-th filter) as ``snt.DepthwiseConv2D``'s (kh, kw, in, m) ``kernel``."""
    kh, kw, c, m = (int(d) for d in kernel.shape)

    def to_native(w: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(w.reshape(c, m, kh, kw).transpose(2, 3, 0, 1))

    def to_canonical(k: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(k.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw))

    out = {"weight": layout.NativeParam(kernel, to_native, to_canonical)}
    if bias is not None:
        out["bias"] = layout.NativeParam(bias, lambda b: b, lambda b: b.copy())
    return out


@WEIGHT_LAYOUTS.register(S.Conv2d, S.ConvTranspose2d)
def conv_weights(
    layer: S.Conv2d | S.ConvTranspose2d, holder: snt.Module, ctx: BuildContext
) -> layout.ParamMap:
    bias = holder.b if layer.bias else None
    if isinstance(holder, snt.DepthwiseConv2D):
        return _depthwise_params(holder.w, bias)
    return layout.conv_params(holder.w, bias)
