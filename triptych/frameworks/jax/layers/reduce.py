"""ReduceMean/ReduceSum/ReduceMax over per-sample axes (each shifted past the batch)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.jax.compat import jnp
from triptych.frameworks.jax.layers.context import CONVERTERS, Array, BuildContext, Node, Run

REDUCERS = {S.ReduceMean: jnp.mean, S.ReduceSum: jnp.sum, S.ReduceMax: jnp.max}


@CONVERTERS.register(*REDUCERS)
def reduce_(layer: S.ReduceMean, ctx: BuildContext) -> Node:
    axes = tuple(a + 1 for a in layer.resolved_axes(ctx.input_shape))
    fn, keep = REDUCERS[type(layer)], layer.keepdims

    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        return fn(xs[0], axis=axes, keepdims=keep)

    return node
