"""Conv2d -> ``Conv2D`` (HWIO kernel); grouped -> `GroupedConv2D` (Keras' grouped kernel,
TensorFlow's grouped convolution op); depthwise (``groups`` = input channels) ->
``DepthwiseConv2D`` ((kh, kw, in, multiplier) kernel). ConvTranspose2d ->
``Conv2DTranspose`` ((kh, kw, out, in) kernel), or, grouped or with ``output_padding``, the
stride-1 convolution of the zero-inserted input (`ZeroInsertion2D`, padding, then a
``Conv2D``/`GroupedConv2D` of flipped taps): tf2onnx writes ``Conv2DBackpropInput`` as ONNX
ConvTranspose without ``group``, and an output padding as negative ``pads`` ONNX Runtime
refuses.

Kernels may be rectangular ((kh, kw), `S.Conv2d.kernel_hw`). Padding is explicit
(``ZeroPadding2D`` of `S.Conv2d.pads`) with ``padding="valid"``: Keras
``"same"`` pads (0, 1) on even inputs where PyTorch pads (1, 1). Dilation with a stride
runs at stride 1 and keeps every stride-th output (`Subsample2D`): Keras refuses the pair,
and TensorFlow's depthwise kernel miscounts its output size. Where the engine has no grouped
kernel in the build's dtype (float64 on a CPU: `grouped_ops`), `GroupedConv2D` runs the
dense block-diagonal kernel."""

from __future__ import annotations

from typing import Any

from triptych.common import spec as S
from triptych.frameworks.tensorflow import grouped_ops, layout
from triptych.frameworks.tensorflow.compat import keras, tf
from triptych.frameworks.tensorflow.layers.context import (
    CONVERTERS,
    WEIGHT_LAYOUTS,
    BuildContext,
    KerasNode,
)


class GroupedConv2D(keras.layers.Conv2D):
    """Keras ``Conv2D(groups=...)`` (its grouped (kh, kw, in/groups, out) kernel) run as
    TensorFlow's own grouped convolution, which exports as ONNX ``Conv`` with ``group``
    (Keras runs grouped convolutions through an XLA-compiled function tf2onnx cannot
    convert); where the engine has no grouped kernel in the layer's dtype
    (`grouped_ops.grouped_kernels`: float64 on a CPU) as the dense convolution of
    `grouped_ops.block_diagonal`, the same variable."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.native_groups = grouped_ops.grouped_kernels(self.dtype_policy.compute_dtype)

    def convolution_op(self, inputs: Any, kernel: Any) -> Any:
        if not self.native_groups:
            kernel = grouped_ops.block_diagonal(kernel, self.groups)
        return tf.nn.convolution(
            inputs,
            kernel,
            list(self.strides),
            self.padding.upper(),
            dilations=list(self.dilation_rate),
        )


class Subsample2D(keras.layers.Layer):
    """Every ``stride``-th row and column of NHWC input, from the first (a strided slice)."""

    def __init__(self, stride: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stride = int(stride)

    def call(self, x: Any) -> Any:
        return x[:, :: self.stride, :: self.stride, :]

    def compute_output_shape(self, shape: Any) -> Any:
        n, h, w, c = shape
        s = self.stride
        return (n, None if h is None else -(-h // s), None if w is None else -(-w // s), c)


class ZeroInsertion2D(keras.layers.Layer):
    """`grouped_ops.zero_insert`: ``stride - 1`` zeros between the pixels of NHWC input."""

    def __init__(self, stride: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stride = int(stride)

    def call(self, x: Any) -> Any:
        return grouped_ops.zero_insert(x, self.stride)

    def compute_output_shape(self, shape: Any) -> Any:
        n, h, w, c = shape
        s = self.stride
        return (
            n,
            None if h is None else (h - 1) * s + 1,
            None if w is None else (w - 1) * s + 1,
            c,
        )


def _grouped_conv(
    filters: int, kernel: int | tuple[int, int], groups: int, ctx: BuildContext, **kwargs: Any
) -> keras.layers.Conv2D:
    """A ``Conv2D`` of ``groups`` groups (`GroupedConv2D` for more than one)."""
    cls = GroupedConv2D if groups > 1 else keras.layers.Conv2D
    return cls(filters, kernel, groups=groups, padding="valid", **kwargs, **ctx.kw)


def _padding(pads: tuple[int, int, int, int], ctx: BuildContext) -> list[keras.layers.Layer]:
    top, left, bottom, right = pads
    if not any(pads):
        return []
    if top == left == bottom == right:  # the form symmetric padding always had
        return [keras.layers.ZeroPadding2D(top, **ctx.kw)]
    return [keras.layers.ZeroPadding2D(((top, bottom), (left, right)), **ctx.kw)]


@CONVERTERS.register(S.Conv2d)
def conv2d(layer: S.Conv2d, ctx: BuildContext) -> KerasNode:
    channels = ctx.input_shape[0]
    pad = _padding(layer.pads(ctx.input_shape), ctx)
    dilated = layer.dilation > 1 and layer.stride > 1
    stride = 1 if dilated else layer.stride
    args = {"strides": stride, "dilation_rate": layer.dilation, "use_bias": layer.bias}
    if layer.groups == channels and channels > 1:
        conv = keras.layers.DepthwiseConv2D(
            layer.kernel_hw,
            depth_multiplier=layer.out_channels // channels,
            padding="valid",
            **args,
            **ctx.kw,
        )
    else:
        conv = _grouped_conv(layer.out_channels, layer.kernel_hw, layer.groups, ctx, **args)
    keep = [Subsample2D(layer.stride, **ctx.kw)] if dilated else []
    return KerasNode.of(*pad, conv, *keep, holder=conv)


@CONVERTERS.register(S.ConvTranspose2d)
def conv_transpose2d(layer: S.ConvTranspose2d, ctx: BuildContext) -> KerasNode:
    if layer.groups > 1 or layer.output_padding:
        return _transposed_as_conv(layer, ctx)
    # "valid" gives H·s + max(k - s, 0); crop to PyTorch's (H-1)·s + k - 2p.
    extra = max(layer.stride - layer.kernel, 0)
    crop = ((layer.padding, layer.padding + extra),) * 2
    conv = keras.layers.Conv2DTranspose(
        layer.out_channels,
        layer.kernel,
        layer.stride,
        padding="valid",
        use_bias=layer.bias,
        **ctx.kw,
    )
    if any(crop[0]):
        return KerasNode.of(conv, keras.layers.Cropping2D(crop, **ctx.kw), holder=conv)
    return KerasNode.of(conv, holder=conv)


def _transposed_as_conv(layer: S.ConvTranspose2d, ctx: BuildContext) -> KerasNode:
    """PyTorch's transposed convolution as a stride-1 convolution (flipped taps, each
    group's in/out swapped: `layout.transposed_as_conv_params`) of the input with
    ``stride - 1`` zeros between pixels, padded k-1-p (top/left) and k-1-p+output_padding
    (bottom/right)."""
    edge = layer.kernel - 1 - layer.padding
    pads = (edge, edge, edge + layer.output_padding, edge + layer.output_padding)
    spread = [ZeroInsertion2D(layer.stride, **ctx.kw)] if layer.stride > 1 else []
    conv = _grouped_conv(layer.out_channels, layer.kernel, layer.groups, ctx, use_bias=layer.bias)
    return KerasNode.of(*spread, *_padding(pads, ctx), conv, holder=conv)


@WEIGHT_LAYOUTS.register(S.Conv2d, S.ConvTranspose2d)
def conv_weights(
    layer: S.Conv2d | S.ConvTranspose2d, holder: keras.layers.Layer, ctx: BuildContext
) -> layout.ParamMap:
    bias = holder.bias if layer.bias else None
    if isinstance(holder, keras.layers.DepthwiseConv2D):
        return layout.depthwise_params(holder.kernel, bias)
    if isinstance(layer, S.ConvTranspose2d) and (layer.groups > 1 or layer.output_padding):
        return layout.transposed_as_conv_params(holder.kernel, bias, layer.groups)
    return layout.conv_params(holder.kernel, bias)
