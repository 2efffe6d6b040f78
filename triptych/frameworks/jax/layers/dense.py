"""Dense on the last axis: y = x Wᵀ + b with the canonical (out, in) weight as it is."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.jax.compat import jnp
from triptych.frameworks.jax.layers.context import CONVERTERS, Array, BuildContext, Node, Run


@CONVERTERS.register(S.Dense)
def dense(layer: S.Dense, ctx: BuildContext) -> Node:
    """(N, F) or (N, L, C) tokens: a matmul with Wᵀ, then the bias."""

    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        y = jnp.matmul(xs[0], p["weight"].T)
        b = p.get("bias")
        return y if b is None else y + b

    return node
