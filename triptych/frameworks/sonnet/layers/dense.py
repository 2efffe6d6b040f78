"""Dense -> ``snt.Linear`` (w: (in, out), Keras's kernel layout: the canonical weight
transposed, with the layout plan's row/column permutations)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.sonnet.compat import snt
from triptych.frameworks.sonnet.layers.context import (
    CONVERTERS,
    WEIGHT_LAYOUTS,
    ZEROS,
    BuildContext,
    SonnetNode,
)
from triptych.frameworks.tensorflow import layout


@CONVERTERS.register(S.Dense)
def dense(layer: S.Dense, ctx: BuildContext) -> SonnetNode:
    mod = snt.Linear(layer.units, with_bias=layer.bias, w_init=ZEROS, name=ctx.name)
    return SonnetNode(lambda xs, t: mod(xs[0]), mod)


@WEIGHT_LAYOUTS.register(S.Dense)
def dense_weights(layer: S.Dense, holder: snt.Linear, ctx: BuildContext) -> layout.ParamMap:
    return layout.dense_params(holder.w, holder.b if layer.bias else None, ctx.p_in, ctx.p_out)
