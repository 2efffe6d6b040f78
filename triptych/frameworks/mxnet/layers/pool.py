"""Max, average, global and adaptive average pooling -> MXNet's ``Pooling``; dilated max
pooling (``Pooling`` has no dilation) -> `DilatedMaxPool`, an exact emulation on it; adaptive
average pooling with unequal windows -> `AdaptivePool`, two constant matmuls."""

from __future__ import annotations

import math

import numpy as np

from triptych.common import spec as S
from triptych.common.layers.base import window_out
from triptych.common.layers.pool import adaptive_matrix
from triptych.frameworks.mxnet.compat import mx, nn
from triptych.frameworks.mxnet.layers.context import CONVERTERS, BuildContext


def _ceil_extra(layer: S.MaxPool2d | S.AvgPool2d, size: int) -> bool:
    """Whether MXNet's ``full`` convention (ceil, no further rule) makes one window more along
    an axis of ``size`` than PyTorch's ``ceil_mode``, whose last window must start inside
    the input or its left padding."""
    k, s, p = layer.kernel, layer.effective_stride, layer.padding
    full = -(-(size + 2 * p - k) // s) + 1
    return full != window_out(size, k, s, p, p, ceil=True)


class CeilPool(nn.HybridBlock):
    """A ceil-mode pooling ``pool`` whose output drops its last row (``rows``) and/or column
    (``cols``): the window that MXNet's ``full`` convention (and ONNX's ``ceil_mode``, on
    some runtimes) adds where PyTorch's rule does not (it would lie in the padding)."""

    def __init__(self, make_pool, out_hw: tuple[int, int], rows: bool, cols: bool) -> None:
        super().__init__()
        with self.name_scope():  # the network gets one top-level block, as from any converter
            self.pool = make_pool()
        self.out_hw, self.rows, self.cols = out_hw, rows, cols

    def hybrid_forward(self, F, x):  # Gluon passes the namespace as F
        y = self.pool(x)
        if self.rows:
            y = F.slice_axis(y, axis=2, begin=0, end=self.out_hw[0])
        if self.cols:
            y = F.slice_axis(y, axis=3, begin=0, end=self.out_hw[1])
        return y


def _windowed(layer: S.MaxPool2d | S.AvgPool2d, ctx: BuildContext, make_pool) -> nn.HybridBlock:
    """``make_pool()``, in a `CeilPool` where its ceil mode would give a window too many."""
    rows, cols = (layer.ceil_mode and _ceil_extra(layer, n) for n in ctx.input_shape[1:])
    if not (rows or cols):
        return make_pool()
    return CeilPool(make_pool, layer.output_shape(ctx.input_shape)[1:], rows, cols)


def _dilated_extent(n: int, k: int, s: int, p: int, d: int, out: int) -> tuple[int, int, int]:
    """Along an axis of ``n``: (phase length J' (padded input = J' * d), bottom padding,
    rows to keep of the input (``n`` or fewer: the rows no window reaches))."""
    need = (out - 1) * s + (k - 1) * d + 1  # padded extent the windows reach
    phase = -(-need // d)
    after = phase * d - p - n
    return phase, max(after, 0), n + min(after, 0)


class DilatedMaxPool(nn.HybridBlock):
    """Max pooling with dilation ``d`` > 1, exact: MXNet's ``Pooling`` has no dilation.

    A dilated window's taps at stride 1, ``i + t*d``, all share the phase ``i mod d``, so on
    the phase sub-grid ``x[r::d]`` the window is an undilated one. The input is padded with
    -inf (PyTorch's rule; also at the bottom/right to a multiple of d covering every window,
    ceil mode included), the d x d phase sub-grids gathered into channels by
    reshape/transpose (space-to-depth), max-pooled with the undilated ``k`` x ``k`` kernel
    at stride 1 in one ``Pooling``, interleaved back by the inverse reshape/transpose (the
    stride-1 dilated pooling) and the stride applied by a strided slice. It exports as
    Pad, Reshape, Transpose, MaxPool, Transpose, Reshape, Slice."""

    def __init__(self, layer: S.MaxPool2d, shape: S.Shape, **kwargs: object) -> None:
        super().__init__(**kwargs)
        c, h, w = shape
        k, s, p, d = layer.kernel, layer.effective_stride, layer.padding, layer.dilation
        self.out_hw = layer.output_shape(shape)[1:]
        (jh, bh, kh), (jw, bw, kw) = (
            _dilated_extent(n, k, s, p, d, o) for n, o in zip((h, w), self.out_hw, strict=True)
        )
        self.keep = (kh, kw)
        self.crop = (kh, kw) != (h, w)
        self.pad_width = (0, 0, 0, 0, p, bh, p, bw)
        self.c, self.k, self.s, self.d = c, k, s, d
        self.phase = (jh, jw)
        self.pooled = (jh - k + 1, jw - k + 1)

    def hybrid_forward(self, F, x):  # Gluon passes the namespace as F
        c, k, s, d = self.c, self.k, self.s, self.d
        (jh, jw), (ph, pw), (oh, ow) = self.phase, self.pooled, self.out_hw
        if self.crop:  # rows/columns no window reaches (floor mode)
            x = F.slice(x, begin=(None, None, 0, 0), end=(None, None, *self.keep))
        if any(self.pad_width):
            x = F.pad(x, mode="constant", pad_width=self.pad_width, constant_value=-math.inf)
        x = F.reshape(x, shape=(-1, c, jh, d, jw, d))
        x = F.transpose(x, axes=(0, 3, 5, 1, 2, 4))  # (N, d, d, C, J', L')
        x = F.reshape(x, shape=(-1, d * d * c, jh, jw))
        y = F.Pooling(x, kernel=(k, k), stride=(1, 1), pool_type="max")
        y = F.reshape(y, shape=(-1, d, d, c, ph, pw))
        y = F.transpose(y, axes=(0, 3, 4, 1, 5, 2))  # (N, C, J, d, L, d)
        y = F.reshape(y, shape=(-1, c, ph * d, pw * d))  # the stride-1 dilated pooling
        end = ((oh - 1) * s + 1, (ow - 1) * s + 1)
        return F.slice(y, begin=(None, None, 0, 0), end=(None, None, *end), step=(1, 1, s, s))


@CONVERTERS.register(S.MaxPool2d)
def maxpool2d(layer: S.MaxPool2d, ctx: BuildContext) -> nn.HybridBlock:
    if layer.dilation != 1:
        return DilatedMaxPool(layer, ctx.input_shape)
    kwargs = {"ceil_mode": True} if layer.ceil_mode else {}
    return _windowed(
        layer,
        ctx,
        lambda: nn.MaxPool2D(layer.kernel, layer.effective_stride, layer.padding, **kwargs),
    )


@CONVERTERS.register(S.AvgPool2d)
def avgpool2d(layer: S.AvgPool2d, ctx: BuildContext) -> nn.HybridBlock:
    return _windowed(
        layer,
        ctx,
        lambda: nn.AvgPool2D(
            layer.kernel,
            layer.effective_stride,
            layer.padding,
            ceil_mode=layer.ceil_mode,
            count_include_pad=layer.count_include_pad,
        ),
    )


def _global(pool_type: str, keepdims: bool) -> nn.HybridBlock:
    # a global Pooling (+ flatten) exports as GlobalAveragePool/GlobalMaxPool (mean() as
    # ReduceMean with an axes attribute, which the opset 18 conversion leaves invalid)
    def run(F, x):  # Gluon passes the namespace as F
        y = F.Pooling(x, kernel=(1, 1), global_pool=True, pool_type=pool_type)
        return y if keepdims else F.flatten(y)

    return nn.HybridLambda(run)


@CONVERTERS.register(S.GlobalAvgPool)
def global_avgpool(layer: S.GlobalAvgPool, ctx: BuildContext) -> nn.HybridBlock:
    return _global("avg", layer.keepdims)


@CONVERTERS.register(S.GlobalMaxPool)
def global_maxpool(layer: S.GlobalMaxPool, ctx: BuildContext) -> nn.HybridBlock:
    return _global("max", layer.keepdims)


class AdaptivePool(nn.HybridBlock):
    """Adaptive average pooling with unequal windows (H or W not a multiple of the output
    size), exact: MXNet's ``contrib.AdaptiveAvgPooling2D`` has no ONNX translation. The
    average is P_h · X · P_wᵀ with the constant pooling matrices (`adaptive_matrix`, Gluon
    constants made in the build's dtype from float64): ``dot`` with a 2-D right operand
    contracts the last axis as ONNX MatMul does, so X · P_wᵀ, a swap of the last two axes,
    · P_hᵀ and the swap back; it exports as MatMul, Transpose, MatMul, Transpose."""

    def __init__(self, shape: S.Shape, size: tuple[int, int], dtype: str, **kwargs: object):
        super().__init__(**kwargs)
        rows = mx.nd.array(adaptive_matrix(shape[1], size[0]), dtype=np.float64)
        cols = mx.nd.array(adaptive_matrix(shape[2], size[1]), dtype=np.float64)
        with self.name_scope():
            self.rows_t = self.params.get_constant("rows_t", rows.T.astype(dtype))  # (H, oh)
            self.cols_t = self.params.get_constant("cols_t", cols.T.astype(dtype))  # (W, ow)

    def hybrid_forward(self, F, x, rows_t, cols_t):  # Gluon passes the namespace as F
        y = F.transpose(F.dot(x, cols_t), axes=(0, 1, 3, 2))  # (N, C, ow, H)
        return F.transpose(F.dot(y, rows_t), axes=(0, 1, 3, 2))  # (N, C, oh, ow)


@CONVERTERS.register(S.AdaptiveAvgPool2d)
def adaptive_avgpool2d(layer: S.AdaptiveAvgPool2d, ctx: BuildContext) -> nn.HybridBlock:
    """Equal windows of H/out_h x W/out_w: an average pooling, which exports as
    AveragePool; unequal ones (H or W not a multiple): `AdaptivePool`."""
    (oh, ow), shape = layer.size_hw, ctx.input_shape
    if layer.uneven(shape):
        return AdaptivePool(shape, (oh, ow), ctx.dtype)
    window = (shape[1] // oh, shape[2] // ow)
    return nn.AvgPool2D(window, window)
