"""Pooling as plain TensorFlow: explicit padding, then VALID. Max pads with -inf, average
with zeros; ``ceil_mode`` pads the bottom/right further, so the last window that hangs over
the edge is a whole window of the padded input. Where PyTorch's divisor is not the window
size everywhere (``count_include_pad=False`` with padding, or windows hanging past the
padding in ``ceil_mode``), the average is rescaled by a constant map (window size / PyTorch's
divisor). Global pools and the adaptive average (equal windows) are one pool over a fixed
window (ONNX: AveragePool/MaxPool, the TensorFlow backend's choice too); an adaptive average
with unequal windows is two constant matmuls (`adaptive_ops`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.common.layers.base import window_out
from triptych.frameworks.sonnet.compat import tf
from triptych.frameworks.sonnet.layers.context import CONVERTERS, BuildContext, SonnetNode
from triptych.frameworks.sonnet.layers.conv import pad_sides
from triptych.frameworks.tensorflow.adaptive_ops import adaptive_avg_pool, adaptive_matrices
from triptych.frameworks.tensorflow.spatial_ops import dilated_max_pool, max_pool_pads


def _extra(size: int, k: int, s: int, p: int, ceil: bool) -> int:
    """The padding after ``size`` (beyond ``p``) that makes the last output window whole."""
    out = window_out(size, k, s, p, p, ceil=ceil)
    return max((out - 1) * s + k - size - 2 * p, 0)


def _pads(layer: S.MaxPool2d | S.AvgPool2d, shape: S.Shape) -> tuple[int, int, int, int]:
    """(top, left, bottom, right): ``padding`` each side, plus ``ceil_mode``'s overhang."""
    k, s, p, ceil = layer.kernel, layer.effective_stride, layer.padding, layer.ceil_mode
    return (p, p, p + _extra(shape[1], k, s, p, ceil), p + _extra(shape[2], k, s, p, ceil))


def _divisors(size: int, k: int, s: int, p: int, ceil: bool, include_pad: bool) -> np.ndarray:
    """PyTorch's avg_pool2d divisor of each output along one axis: the window clipped to
    the padded input (``count_include_pad``) or to the input itself."""
    starts = np.arange(window_out(size, k, s, p, p, ceil=ceil)) * s - p
    ends = np.minimum(starts + k, size + p)
    if include_pad:
        return ends - starts
    return np.minimum(ends, size) - np.maximum(starts, 0)


def _rescale(layer: S.AvgPool2d, shape: S.Shape) -> np.ndarray | None:
    """k² / PyTorch's divisor, (1, H_out, W_out, 1); None where that is 1 everywhere."""
    k, s, p, ceil = layer.kernel, layer.effective_stride, layer.padding, layer.ceil_mode
    rows = _divisors(shape[1], k, s, p, ceil, layer.count_include_pad)
    cols = _divisors(shape[2], k, s, p, ceil, layer.count_include_pad)
    divisor = np.outer(rows, cols).astype(np.float64)
    if np.all(divisor == k * k):
        return None
    return (k * k / divisor)[None, :, :, None]


@CONVERTERS.register(S.MaxPool2d)
def maxpool2d(layer: S.MaxPool2d, ctx: BuildContext) -> SonnetNode:
    """A dilated max pool is `spatial_ops.dilated_max_pool` (TensorFlow's dilated pooling
    takes stride 1 only: pooled at stride 1, every stride-th window kept)."""
    if layer.dilation > 1:
        k, s, d = layer.kernel, layer.effective_stride, layer.dilation
        pads, out = max_pool_pads(layer, ctx.input_shape), layer.output_shape(ctx.input_shape)
        return SonnetNode(
            lambda xs, t: dilated_max_pool(pad_sides(xs[0], pads, -np.inf), k, s, d, out[1:])
        )
    k, s, pads = layer.kernel, layer.effective_stride, _pads(layer, ctx.input_shape)
    return SonnetNode(
        lambda xs, t: tf.nn.max_pool2d(pad_sides(xs[0], pads, -np.inf), k, s, "VALID")
    )


@CONVERTERS.register(S.AvgPool2d)
def avgpool2d(layer: S.AvgPool2d, ctx: BuildContext) -> SonnetNode:
    k, s, pads = layer.kernel, layer.effective_stride, _pads(layer, ctx.input_shape)
    scale = _rescale(layer, ctx.input_shape)
    if scale is None:
        return SonnetNode(lambda xs, t: tf.nn.avg_pool2d(pad_sides(xs[0], pads), k, s, "VALID"))

    def call(xs: list[Any], t: bool) -> Any:
        y = tf.nn.avg_pool2d(pad_sides(xs[0], pads), k, s, "VALID")
        return y * tf.constant(scale, y.dtype)  # made while tracing: a graph constant

    return SonnetNode(call)


def _global(ctx: BuildContext, keepdims: bool, pool: Any) -> SonnetNode:
    """``pool`` over the whole H x W; (N, C) unless ``keepdims`` (N, 1, 1, C)."""
    c, h, w = ctx.input_shape
    if keepdims:
        return SonnetNode(lambda xs, t: pool(xs[0], (h, w), 1, "VALID"))
    return SonnetNode(lambda xs, t: tf.reshape(pool(xs[0], (h, w), 1, "VALID"), [-1, c]))


@CONVERTERS.register(S.GlobalAvgPool)
def global_avgpool(layer: S.GlobalAvgPool, ctx: BuildContext) -> SonnetNode:
    # a pool over the whole H x W exports as AveragePool (portable), as in the TF backend
    return _global(ctx, layer.keepdims, tf.nn.avg_pool2d)


@CONVERTERS.register(S.GlobalMaxPool)
def global_maxpool(layer: S.GlobalMaxPool, ctx: BuildContext) -> SonnetNode:
    return _global(ctx, layer.keepdims, tf.nn.max_pool2d)


@CONVERTERS.register(S.AdaptiveAvgPool2d)
def adaptive_avgpool2d(layer: S.AdaptiveAvgPool2d, ctx: BuildContext) -> SonnetNode:
    """Equal windows of H/out_h x W/out_w: one average pool; unequal ones (H or W not a
    multiple): `adaptive_avg_pool`, two matmuls with constant pooling matrices."""
    (oh, ow), shape = layer.size_hw, ctx.input_shape
    if layer.uneven(shape):
        rows, cols = adaptive_matrices(shape, (oh, ow))
        return SonnetNode(lambda xs, t: adaptive_avg_pool(xs[0], rows, cols))
    window = (shape[1] // oh, shape[2] // ow)
    return SonnetNode(lambda xs, t: tf.nn.avg_pool2d(xs[0], window, window, "VALID"))
