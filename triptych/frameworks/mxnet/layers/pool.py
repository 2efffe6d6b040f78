"""Max, average, global and adaptive average pooling -> MXNet's ``Pooling``."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.common.layers.base import window_out
from triptych.frameworks.mxnet.compat import nn
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


@CONVERTERS.register(S.MaxPool2d)
def maxpool2d(layer: S.MaxPool2d, ctx: BuildContext) -> nn.HybridBlock:
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


@CONVERTERS.register(S.AdaptiveAvgPool2d)
def adaptive_avgpool2d(layer: S.AdaptiveAvgPool2d, ctx: BuildContext) -> nn.HybridBlock:
    """Equal windows of H/size x W/size (the spec requires multiples): an average pooling,
    which exports as AveragePool."""
    window = (ctx.input_shape[1] // layer.size, ctx.input_shape[2] // layer.size)
    return nn.AvgPool2D(window, window)
