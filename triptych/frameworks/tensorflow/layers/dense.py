"""Dense -> ``keras.layers.Dense`` (kernel (in, out): the canonical weight transposed, with
the layout plan's row/column permutations)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.tensorflow import layout
from triptych.frameworks.tensorflow.compat import keras
from triptych.frameworks.tensorflow.layers.context import (
    CONVERTERS,
    WEIGHT_LAYOUTS,
    BuildContext,
    KerasNode,
)


@CONVERTERS.register(S.Dense)
def dense(layer: S.Dense, ctx: BuildContext) -> KerasNode:
    made = keras.layers.Dense(layer.units, use_bias=layer.bias, **ctx.kw)
    return KerasNode.of(made, holder=made)


@WEIGHT_LAYOUTS.register(S.Dense)
def dense_weights(layer: S.Dense, holder: keras.layers.Dense, ctx: BuildContext) -> layout.ParamMap:
    return layout.dense_params(
        holder.kernel, holder.bias if layer.bias else None, ctx.p_in, ctx.p_out
    )
