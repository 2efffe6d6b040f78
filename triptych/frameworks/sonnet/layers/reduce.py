"""ReduceMean, ReduceSum, ReduceMax as plain TensorFlow: ``tf.reduce_*`` over the canonical
axes moved to NHWC (`spatial_ops.nhwc_axes`; ONNX ReduceMean/ReduceSum/ReduceMax)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.sonnet.layers.context import CONVERTERS, BuildContext, SonnetNode
from triptych.frameworks.tensorflow.spatial_ops import REDUCE_LAYERS, nhwc_axes, reduce


@CONVERTERS.register(*REDUCE_LAYERS)
def reduce_(layer: S.ReduceMean, ctx: BuildContext) -> SonnetNode:
    axes = nhwc_axes(layer.resolved_axes(ctx.input_shape), len(ctx.input_shape))
    kind, keepdims = layer.kind, layer.keepdims
    return SonnetNode(lambda xs, t: reduce(kind, xs[0], axes, keepdims))
