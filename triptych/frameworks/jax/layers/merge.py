"""Several inputs: element-wise arithmetic with numpy broadcasting (the batch axis equal)
folded left to right, and concatenation along an axis of the NCHW batch."""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce

from triptych.common import spec as S
from triptych.frameworks.jax.compat import jnp
from triptych.frameworks.jax.layers.context import CONVERTERS, Array, BuildContext, Node, Run


def folded(op: Callable[[Array, Array], Array]) -> Node:
    """A node folding ``op`` over its inputs, left to right."""

    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        return reduce(op, xs)

    return node


OPS: dict[type, Callable[[Array, Array], Array]] = {
    S.Add: jnp.add,
    S.Mul: jnp.multiply,
    S.Sub: jnp.subtract,
    S.Div: jnp.divide,
    S.Maximum: jnp.maximum,
    S.Minimum: jnp.minimum,
}


@CONVERTERS.register(*OPS)
def elementwise(layer: S.Layer, ctx: BuildContext) -> Node:
    return folded(OPS[type(layer)])


@CONVERTERS.register(S.Concat)
def concat(layer: S.Concat, ctx: BuildContext) -> Node:
    axis = layer.axis

    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        return xs[0] if len(xs) == 1 else jnp.concatenate(xs, axis=axis)

    return node
