"""Max, average, global (average and max) and adaptive average pooling -> Chainer's
``max_pooling_2d`` / ``average_pooling_2d``.

``ceil_mode``: Chainer's ``cover_all`` is not PyTorch's ``ceil_mode`` (it pads s - 1 at the
end, so it can add a window that starts in the right padding, which ``ceil_mode`` never
does); the exact extra bottom/right padding that gives the spec's output size is added with
``F.pad`` instead (-inf before a max pool, zeros before an average pool), then the pool runs
with ``cover_all=False``. ``average_pooling_2d`` divides every window by k·k (zero padding
counted); where PyTorch's divisor differs (``count_include_pad=False``, or a ceil-mode
window overhanging the padded input) the result is multiplied by the constant k·k / divisor
per output position (`avg_divisors`, PyTorch's rule).

A dilated max pool: ``max_pooling_2d`` has no dilation, so `dilated_maxpool` emulates it
exactly with native ops (phase sub-grids pooled with the undilated kernel, see there). An
adaptive average with unequal windows is two constant matmuls (`adaptive_avgpool2d`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.common.layers.base import window_out
from triptych.common.layers.pool import adaptive_matrix
from triptych.frameworks.chainer.compat import F
from triptych.frameworks.chainer.layers.context import CONVERTERS, BuildContext, Call, constant


def _ceil_pads(layer: S.MaxPool2d | S.AvgPool2d, shape: S.Shape) -> tuple[int, int]:
    """Extra bottom and right padding after which the floor rule gives the spec's size
    (0 and 0 without ``ceil_mode``)."""
    k, s, p = layer.kernel, layer.effective_stride, layer.padding
    extra = []
    for size in shape[1:]:
        out = window_out(size, k, s, p, p, ceil=layer.ceil_mode)
        extra.append(max((out - 1) * s + k - (size + 2 * p), 0))
    return extra[0], extra[1]


def avg_divisors(layer: S.AvgPool2d, shape: S.Shape) -> np.ndarray:
    """(H_out, W_out): PyTorch's divisor per window: the window clipped to the padded input
    (with ``count_include_pad``), or to the input itself (without)."""
    k, s, p = layer.kernel, layer.effective_stride, layer.padding
    counts = []
    for size in shape[1:]:
        start = np.arange(window_out(size, k, s, p, p, ceil=layer.ceil_mode)) * s - p
        end = np.minimum(start + k, size + p)
        if not layer.count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        counts.append(end - start)
    return np.outer(counts[0], counts[1]).astype(np.float64)


def _pad_end(x: Any, extra: tuple[int, int], value: float) -> Any:
    width = ((0, 0), (0, 0), (0, extra[0]), (0, extra[1]))
    # an array value: onnx-chainer's Pad converter reads a float only from one
    return F.pad(x, width, "constant", constant_values=np.array([value]))


def dilated_maxpool(layer: S.MaxPool2d, shape: S.Shape) -> Call:
    """PyTorch's dilated max pool (-inf padding, ``ceil_mode`` included) from undilated
    ``max_pooling_2d``: the taps of a window with dilation d are rows r, r + d, ...; with
    the padded input cut into its d x d phase sub-grids (rows ≡ ph mod d: a reshape to
    (L/d, d) and a transpose, as every phase has the same size L/d), they are consecutive
    rows of one sub-grid, so a stride-1 k x k pool of each sub-grid gives every stride-1
    dilated window, which the inverse reshape interleaves back. The stride keeps every s-th
    row and column (a reshape to (out, s) and index 0). The input is padded with -inf (or
    cropped) to L = d·ceil((out·s + (k-1)·d) / d) rows, enough for both steps; the extra
    rows reach only windows that are dropped. Reshapes, a transpose, a pool, Pad and Slice:
    all plain ONNX ops for the export."""
    k, s, p, d = layer.kernel, layer.effective_stride, layer.padding, layer.dilation
    c, (h, w), (oh, ow) = int(shape[0]), shape[1:], layer.output_shape(shape)[1:]
    lh, lw = (-(-(o * s + (k - 1) * d) // d) * d for o in (oh, ow))  # padded H and W
    bottom, right = lh - h - p, lw - w - p  # < 0: input rows/columns no window reaches
    every = (slice(None), slice(None))
    crop = (*every, slice(0, h + min(bottom, 0)), slice(0, w + min(right, 0)))
    width = ((0, 0), (0, 0), (p, max(bottom, 0)), (p, max(right, 0)))
    gh, gw = lh // d, lw // d  # a phase sub-grid
    qh, qw = gh - k + 1, gw - k + 1  # stride-1 windows per sub-grid
    keep = (*every, slice(0, oh * s), slice(0, ow * s))
    firsts = (*every, slice(None), 0, slice(None), 0)  # row 0 of each (out, s) pair

    def pool(x: Any) -> Any:
        if min(bottom, right) < 0:
            x = F.get_item(x, crop)
        x = F.pad(x, width, "constant", constant_values=np.array([-np.inf]))
        x = F.transpose(F.reshape(x, (-1, c, gh, d, gw, d)), (0, 1, 3, 5, 2, 4))
        y = F.max_pooling_2d(F.reshape(x, (-1, c * d * d, gh, gw)), k, 1, 0, cover_all=False)
        y = F.transpose(F.reshape(y, (-1, c, d, d, qh, qw)), (0, 1, 4, 2, 5, 3))
        y = F.reshape(y, (-1, c, qh * d, qw * d))
        if (qh * d, qw * d) != (oh * s, ow * s):
            y = F.get_item(y, keep)
        if s == 1:
            return y
        return F.get_item(F.reshape(y, (-1, c, oh, s, ow, s)), firsts)

    return pool


@CONVERTERS.register(S.MaxPool2d)
def maxpool2d(layer: S.MaxPool2d, ctx: BuildContext) -> Call:
    if layer.dilation != 1:
        return dilated_maxpool(layer, ctx.input_shape)
    k, s, p = layer.kernel, layer.effective_stride, layer.padding
    extra = _ceil_pads(layer, ctx.input_shape)
    if extra == (0, 0):  # padding is -inf: PyTorch's
        return lambda x: F.max_pooling_2d(x, k, s, p, cover_all=False)
    return lambda x: F.max_pooling_2d(_pad_end(x, extra, -np.inf), k, s, p, cover_all=False)


@CONVERTERS.register(S.AvgPool2d)
def avgpool2d(layer: S.AvgPool2d, ctx: BuildContext) -> Call:
    k, s, p = layer.kernel, layer.effective_stride, layer.padding
    extra = _ceil_pads(layer, ctx.input_shape)
    ratio = k * k / avg_divisors(layer, ctx.input_shape)
    if extra == (0, 0) and np.all(ratio == 1.0):
        return lambda x: F.average_pooling_2d(x, k, s, p)  # zero padding averaged in: PyTorch's
    scale = constant(ratio[None, None], ctx.dtype)

    def pool(x: Any) -> Any:
        if extra != (0, 0):
            x = _pad_end(x, extra, 0.0)
        return F.average_pooling_2d(x, k, s, p) * scale

    return pool


def _global(pool: Call, shape: S.Shape, keepdims: bool) -> Call:
    """A pool over the whole (known) H x W: AveragePool/MaxPool in ONNX, + Reshape to
    (N, C) unless ``keepdims``."""
    window = (int(shape[1]), int(shape[2]))
    if keepdims:
        return lambda x: pool(x, window)
    return lambda x: F.reshape(pool(x, window), (-1, int(shape[0])))


@CONVERTERS.register(S.GlobalAvgPool)
def global_avgpool(layer: S.GlobalAvgPool, ctx: BuildContext) -> Call:
    return _global(F.average_pooling_2d, ctx.input_shape, layer.keepdims)


@CONVERTERS.register(S.GlobalMaxPool)
def global_maxpool(layer: S.GlobalMaxPool, ctx: BuildContext) -> Call:
    def max_pool(x: Any, window: tuple[int, int]) -> Any:
        return F.max_pooling_2d(x, window, cover_all=False)

    return _global(max_pool, ctx.input_shape, layer.keepdims)


@CONVERTERS.register(S.AdaptiveAvgPool2d)
def adaptive_avgpool2d(layer: S.AdaptiveAvgPool2d, ctx: BuildContext) -> Call:
    """Equal windows of H/out_h x W/out_w: an average pool. Unequal ones (H or W not a
    multiple; Chainer has no adaptive pool): P_h · X · P_wᵀ, two ``F.matmul`` (numpy's
    broadcasting; ONNX MatMul) with the constant pooling matrices (`adaptive_matrix`) in
    the build's dtype."""
    (oh, ow), shape = layer.size_hw, ctx.input_shape
    if not layer.uneven(shape):
        window = (shape[1] // oh, shape[2] // ow)
        return lambda x: F.average_pooling_2d(x, window, window)
    rows = constant(adaptive_matrix(shape[1], oh), ctx.dtype)  # (oh, H)
    cols_t = constant(np.transpose(adaptive_matrix(shape[2], ow)), ctx.dtype)  # (W, ow)
    return lambda x: F.matmul(F.matmul(rows, x), cols_t)
