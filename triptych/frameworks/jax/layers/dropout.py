"""Dropout and StochasticDepth: in train mode the input times a keep-mask (the exact one of
`triptych.common.dropout` when the forward has masks, else one drawn from the forward's key
with this layer's index folded in: keep with probability 1 - p, scaled 1 / (1 - p)); the
identity in eval mode."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.jax.compat import jax
from triptych.frameworks.jax.layers.context import CONVERTERS, Array, BuildContext, Node, Run


def apply_dropout(x: Array, p_drop: float, index: int, run: Run, per_sample: bool) -> Array:
    """``x`` dropped with probability ``p_drop`` in train mode, by the exact mask of layer
    ``index`` (``run.masks``) or else one drawn from ``run.key`` with ``index`` folded in
    (``per_sample``: one keep per sample, broadcast); ``x`` itself in eval mode. An
    attention's dropout on its probabilities uses it too (`layers.attention`)."""
    if not run.training or p_drop == 0:
        return x
    mask = None if run.masks is None else run.masks.get(index)
    if mask is None:
        if run.key is None:
            raise ValueError("a train-mode Dropout needs masks or a PRNG key")
        shape = (x.shape[0],) + (1,) * (x.ndim - 1) if per_sample else x.shape
        keep = jax.random.bernoulli(jax.random.fold_in(run.key, index), 1.0 - p_drop, shape)
        mask = keep.astype(x.dtype) * (1.0 / (1.0 - p_drop))
    return x * mask.astype(x.dtype)


def masked(p_drop: float, index: int, per_sample: bool) -> Node:
    """The node: ``per_sample`` draws one keep per sample (StochasticDepth), broadcast."""

    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        return apply_dropout(xs[0], p_drop, index, run, per_sample)

    return node


@CONVERTERS.register(S.Dropout)
def dropout(layer: S.Dropout, ctx: BuildContext) -> Node:
    return masked(layer.p, ctx.index, per_sample=False)


@CONVERTERS.register(S.StochasticDepth)
def stochastic_depth(layer: S.StochasticDepth, ctx: BuildContext) -> Node:
    return masked(layer.p, ctx.index, per_sample=True)
