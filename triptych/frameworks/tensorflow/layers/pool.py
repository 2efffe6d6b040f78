"""Max, average, global (average, max) and adaptive average pooling. Padding is explicit with
``padding="valid"``: max-pooling pads with -inf (`ConstantPadding2D`), average pooling with
zeros. ``ceil_mode``'s last window, hanging over the bottom/right edge, sees more of that
padding; an average whose PyTorch divisor is not the window's area (the overhang, or
padding with ``count_include_pad=False``) is rescaled per output pixel by the constant
area / divisor (`ConstantAffine`), so Keras' own pooling does the sums. A dilated max pool
is `DilatedMaxPooling2D` (TensorFlow's own dilated pooling, at stride 1 then subsampled).
An adaptive average with unequal windows is `AdaptiveAvgPooling2D` (two constant matmuls)."""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from triptych.common import spec as S
from triptych.common.layers.base import window_out
from triptych.frameworks.tensorflow.adaptive_ops import adaptive_avg_pool, adaptive_matrices
from triptych.frameworks.tensorflow.compat import keras
from triptych.frameworks.tensorflow.layers.context import CONVERTERS, BuildContext, KerasNode
from triptych.frameworks.tensorflow.layers.custom import ConstantAffine
from triptych.frameworks.tensorflow.spatial_ops import dilated_max_pool, max_pool_pads


class ConstantPadding2D(keras.layers.Layer):
    """Spatial padding with a constant (-inf before a padded max-pool: PyTorch pads
    max-pooling with -inf, Keras has no such padding layer): ``padding`` an int (every
    side) or ((top, bottom), (left, right))."""

    def __init__(
        self, padding: int | tuple[tuple[int, int], tuple[int, int]], value: float, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = ((padding, padding), (padding, padding))
        self.padding = tuple((int(a), int(b)) for a, b in padding)
        self.value = float(value)

    def call(self, x: Any) -> Any:
        (t, b), (left, r) = self.padding
        return ops.pad(x, [[0, 0], [t, b], [left, r], [0, 0]], constant_values=self.value)

    def compute_output_shape(self, shape: Any) -> Any:
        n, h, w, c = shape
        (t, b), (left, r) = self.padding
        return (n, None if h is None else h + t + b, None if w is None else w + left + r, c)


def _overhang(layer: S.MaxPool2d | S.AvgPool2d, size: int) -> int:
    """Rows (columns) past the padded input ``ceil_mode``'s last window reaches."""
    k, s, p = layer.kernel, layer.effective_stride, layer.padding
    out = window_out(size, k, s, p, p, ceil=layer.ceil_mode)
    return max((out - 1) * s + k - (size + 2 * p), 0)


def _pads(layer: S.MaxPool2d | S.AvgPool2d, shape: S.Shape) -> tuple[tuple[int, int], ...]:
    p = layer.padding
    return ((p, p + _overhang(layer, shape[1])), (p, p + _overhang(layer, shape[2])))


class DilatedMaxPooling2D(keras.layers.Layer):
    """Max pooling of (-inf padded) NHWC input with taps ``dilation`` apart, ``out`` (H, W)
    windows ``stride`` apart (`spatial_ops.dilated_max_pool`: Keras's MaxPooling2D has no
    dilation, TensorFlow's pooling takes one at stride 1 only)."""

    def __init__(
        self, kernel: int, stride: int, dilation: int, out: tuple[int, int], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.kernel, self.stride, self.dilation = int(kernel), int(stride), int(dilation)
        self.out = (int(out[0]), int(out[1]))

    def call(self, x: Any) -> Any:
        return dilated_max_pool(x, self.kernel, self.stride, self.dilation, self.out)

    def compute_output_shape(self, shape: Any) -> Any:
        return (shape[0], *self.out, shape[3])


def _dilated_maxpool(layer: S.MaxPool2d, ctx: BuildContext) -> KerasNode:
    t, left, b, r = max_pool_pads(layer, ctx.input_shape)
    pad = ConstantPadding2D(((t, b), (left, r)), float("-inf"), **ctx.kw)
    out = layer.output_shape(ctx.input_shape)[1:]
    pool = DilatedMaxPooling2D(layer.kernel, layer.effective_stride, layer.dilation, out, **ctx.kw)
    return KerasNode.of(*([pad] if any((t, left, b, r)) else []), pool)


@CONVERTERS.register(S.MaxPool2d)
def maxpool2d(layer: S.MaxPool2d, ctx: BuildContext) -> KerasNode:
    if layer.dilation > 1:
        return _dilated_maxpool(layer, ctx)
    (t, b), (left, r) = pads = _pads(layer, ctx.input_shape)
    if t == b == left == r:  # the form symmetric padding always had
        pads = t
    pad = [ConstantPadding2D(pads, float("-inf"), **ctx.kw)] if any((t, b, left, r)) else []
    pool = keras.layers.MaxPooling2D(
        layer.kernel, layer.effective_stride, padding="valid", **ctx.kw
    )
    return KerasNode.of(*pad, pool)


def _divisors(layer: S.AvgPool2d, size: int) -> np.ndarray:
    """PyTorch's divisor per output position along one axis: the window clipped to the
    padded input (``count_include_pad``) or to the input itself."""
    k, s, p = layer.kernel, layer.effective_stride, layer.padding
    start = np.arange(window_out(size, k, s, p, p, ceil=layer.ceil_mode)) * s - p
    end = np.minimum(start + k, size + p)
    if not layer.count_include_pad:
        start, end = np.maximum(start, 0), np.minimum(end, size)
    return (end - start).astype(np.float64)


@CONVERTERS.register(S.AvgPool2d)
def avgpool2d(layer: S.AvgPool2d, ctx: BuildContext) -> KerasNode:
    (t, b), (left, r) = pads = _pads(layer, ctx.input_shape)
    if t == b == left == r:
        pads = t
    pad = [keras.layers.ZeroPadding2D(pads, **ctx.kw)] if any((t, b, left, r)) else []
    pool = keras.layers.AveragePooling2D(
        layer.kernel, layer.effective_stride, padding="valid", **ctx.kw
    )
    area = np.outer(_divisors(layer, ctx.input_shape[1]), _divisors(layer, ctx.input_shape[2]))
    if np.all(area == layer.kernel**2):
        return KerasNode.of(*pad, pool)
    rescale = ConstantAffine((layer.kernel**2 / area)[:, :, None], **ctx.kw)
    return KerasNode.of(*pad, pool, rescale)


def _global(pool: type, layer: S.GlobalAvgPool | S.GlobalMaxPool, ctx: BuildContext) -> KerasNode:
    # a pool over the whole H x W exports as AveragePool/MaxPool (portable), where
    # GlobalAveragePooling2D becomes an opset-18 ReduceMean that onnx2torch cannot take
    shape = ctx.input_shape
    whole = pool((shape[1], shape[2]), **ctx.kw)
    if layer.keepdims:
        return KerasNode.of(whole)
    return KerasNode.of(whole, keras.layers.Flatten(**ctx.kw))


@CONVERTERS.register(S.GlobalAvgPool)
def global_avgpool(layer: S.GlobalAvgPool, ctx: BuildContext) -> KerasNode:
    return _global(keras.layers.AveragePooling2D, layer, ctx)


@CONVERTERS.register(S.GlobalMaxPool)
def global_maxpool(layer: S.GlobalMaxPool, ctx: BuildContext) -> KerasNode:
    return _global(keras.layers.MaxPooling2D, layer, ctx)


class AdaptiveAvgPooling2D(keras.layers.Layer):
    """Adaptive average pooling of NHWC input with unequal windows (`adaptive_avg_pool`:
    two matmuls with constant pooling matrices, kept in float64 and rounded once to the
    layer's dtype; Keras has no adaptive pooling)."""

    def __init__(self, shape: S.Shape, size: tuple[int, int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows, self.cols = adaptive_matrices(shape, size)

    def call(self, x: Any) -> Any:
        return adaptive_avg_pool(x, self.rows, self.cols)

    def compute_output_shape(self, shape: Any) -> Any:
        return (shape[0], self.rows.shape[0], self.cols.shape[0], shape[3])


@CONVERTERS.register(S.AdaptiveAvgPool2d)
def adaptive_avgpool2d(layer: S.AdaptiveAvgPool2d, ctx: BuildContext) -> KerasNode:
    """Equal windows of H/out_h x W/out_w: one AveragePooling2D; unequal ones (H or W not
    a multiple): `AdaptiveAvgPooling2D`."""
    (oh, ow), shape = layer.size_hw, ctx.input_shape
    if layer.uneven(shape):
        return KerasNode.of(AdaptiveAvgPooling2D(shape, (oh, ow), **ctx.kw))
    window = (shape[1] // oh, shape[2] // ow)
    return KerasNode.of(keras.layers.AveragePooling2D(window, window, **ctx.kw))
