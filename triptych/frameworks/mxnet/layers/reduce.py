"""ReduceMean, ReduceSum, ReduceMax -> `Reduce` (MXNet's ``mean`` / ``sum`` / ``max`` over
the per-sample axes, shifted past the batch axis).

The reduction always keeps its axes; keepdims=False (only the spatial axes of (C, H, W))
flattens afterwards: mx2onnx writes ``mean``/``max`` without keepdims as a Shape/ScatterND
reshape chain, ``Flatten`` is one plain node."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.mxnet.compat import nn
from triptych.frameworks.mxnet.layers.context import CONVERTERS, BuildContext


class Reduce(nn.HybridBlock):
    """``op`` ("mean", "sum" or "max") over per-sample ``axes`` (batch excluded), then a
    flatten unless ``keepdims``."""

    def __init__(self, op: str, axes: tuple[int, ...], keepdims: bool, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.op, self.keepdims = op, keepdims
        self.axis = tuple(a + 1 for a in axes)  # the batch axis first

    def _alias(self) -> str:
        return "reduce"

    def hybrid_forward(self, F, x):  # Gluon passes the namespace as F
        y = getattr(F, self.op)(x, axis=self.axis, keepdims=True)
        return y if self.keepdims else F.flatten(y)


def _reduce(op: str):
    def convert(layer: S.ReduceMean, ctx: BuildContext) -> nn.HybridBlock:
        return Reduce(op, layer.resolved_axes(ctx.input_shape), layer.keepdims)

    return convert


CONVERTERS.register(S.ReduceMean)(_reduce("mean"))
CONVERTERS.register(S.ReduceSum)(_reduce("sum"))
CONVERTERS.register(S.ReduceMax)(_reduce("max"))
