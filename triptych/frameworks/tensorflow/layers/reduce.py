"""ReduceMean, ReduceSum, ReduceMax -> `Reduce` (``tf.reduce_*`` over the canonical axes
moved to NHWC, `spatial_ops.nhwc_axes`; ONNX ReduceMean/ReduceSum/ReduceMax)."""

from __future__ import annotations

from typing import Any

from triptych.common import spec as S
from triptych.frameworks.tensorflow.compat import keras
from triptych.frameworks.tensorflow.layers.context import CONVERTERS, BuildContext, KerasNode
from triptych.frameworks.tensorflow.spatial_ops import REDUCE_LAYERS, nhwc_axes, reduce


class Reduce(keras.layers.Layer):
    """The reduction of layer ``kind`` ("reduce_mean", "reduce_sum", "reduce_max") over
    native ``axes`` (batch 0, NHWC for images), keeping them as size 1 with ``keepdims``."""

    def __init__(self, kind: str, axes: list[int], keepdims: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kind, self.axes, self.keepdims = kind, tuple(axes), bool(keepdims)

    def call(self, x: Any) -> Any:
        return reduce(self.kind, x, list(self.axes), self.keepdims)

    def compute_output_shape(self, shape: Any) -> Any:
        if self.keepdims:
            return tuple(1 if i in self.axes else d for i, d in enumerate(shape))
        return tuple(d for i, d in enumerate(shape) if i not in self.axes)


@CONVERTERS.register(*REDUCE_LAYERS)
def reduce_(layer: S.ReduceMean, ctx: BuildContext) -> KerasNode:
    axes = nhwc_axes(layer.resolved_axes(ctx.input_shape), len(ctx.input_shape))
    return KerasNode.of(Reduce(layer.kind, axes, layer.keepdims, **ctx.kw))
