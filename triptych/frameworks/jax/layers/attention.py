"""Token layers on (N, L, C): token ids to embeddings, image pixels to tokens and back, a class
token, a position embedding and PyTorch's multi-head self-attention with its canonical
weights (``in_proj_weight`` (3C, C) rows q, k, v; ``out_proj_weight`` (C, C))."""

from __future__ import annotations

import math

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.jax.compat import jax, jnp, lax
from triptych.frameworks.jax.layers.context import (
    CONVERTERS,
    Array,
    BuildContext,
    Node,
    Run,
    tf_softmax,
    unary,
)
from triptych.frameworks.jax.layers.dropout import apply_dropout


@CONVERTERS.register(S.Embedding)
def embedding(layer: S.Embedding, ctx: BuildContext) -> Node:
    """(N, L) int64 ids -> (N, L, dim): rows of ``weight`` (a gather; ids outside the
    table are clamped to it, the undefined case of `S.Embedding`)."""

    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        return jnp.take(p["weight"], xs[0], axis=0, mode="clip")

    return node


@CONVERTERS.register(S.Tokens)
def tokens(layer: S.Tokens, ctx: BuildContext) -> Node:
    """(N, C, H, W) -> (N, H·W, C), row-major pixels."""
    c, h, w = ctx.input_shape
    return unary(lambda x: x.reshape(-1, c, h * w).transpose(0, 2, 1))


@CONVERTERS.register(S.Untokens)
def untokens(layer: S.Untokens, ctx: BuildContext) -> Node:
    """(N, H·W, C) -> (N, C, H, W): token i to pixel (i // W, i % W) (`Tokens` undone)."""
    c, h, w = ctx.input_shape[1], layer.height, layer.width
    return unary(lambda x: x.transpose(0, 2, 1).reshape(-1, c, h, w))


@CONVERTERS.register(S.ClassToken)
def class_token(layer: S.ClassToken, ctx: BuildContext) -> Node:
    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        x = xs[0]
        token = jnp.broadcast_to(p["token"][None], (x.shape[0], 1, x.shape[2]))
        return jnp.concatenate([token, x], axis=1)

    return node


@CONVERTERS.register(S.PositionEmbedding)
def position_embedding(layer: S.PositionEmbedding, ctx: BuildContext) -> Node:
    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        return xs[0] + p["weight"]

    return node


def _attention(layer: S.MultiHeadAttention, ctx: BuildContext) -> Node:
    """softmax(q kᵀ / sqrt(d) [+ causal mask] [+ key-padding mask]) v per head, then the
    output projection; a second input (MaskedMultiHeadAttention's keep mask, (N, L), 1
    attend / 0 ignore) masks keys, PyTorch's ``key_padding_mask``. ``dropout`` > 0: in
    training the probabilities (N, heads, L, L) are dropped (`apply_dropout`: the exact mask
    of this layer's index, or one drawn from the forward's key)."""
    length, c = ctx.info.input_shapes[0] if ctx.info.input_shapes else ctx.input_shape
    heads = layer.heads
    d = c // heads
    scale = 1.0 / math.sqrt(d)
    mask = ctx.const(np.triu(np.full((length, length), -np.inf), 1)) if layer.causal else None
    p_drop, index = layer.dropout, ctx.index

    def split(t: Array) -> Array:  # (N, L, C) -> (N, heads, L, d)
        return t.reshape(-1, length, heads, d).transpose(0, 2, 1, 3)

    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        x = xs[0]
        qkv = jnp.matmul(x, p["in_proj_weight"].T)
        if "in_proj_bias" in p:
            qkv = qkv + p["in_proj_bias"]
        q, k, v = (split(lax.slice_in_dim(qkv, i * c, (i + 1) * c, axis=2)) for i in range(3))
        scores = jnp.matmul(q * scale, k.transpose(0, 1, 3, 2))
        if mask is not None:
            scores = scores + mask
        if len(xs) > 1:
            # ignored keys get -1e30: exp underflows to exactly 0 as -inf does, and no
            # 0 · inf appears when an exporter writes the select as arithmetic
            scores = scores + (xs[1].reshape(-1, 1, 1, length) - 1.0) * 1e30
        weights = tf_softmax(scores, -1) if run.portable else jax.nn.softmax(scores, axis=-1)
        weights = apply_dropout(weights, p_drop, index, run, per_sample=False)  # training only
        y = jnp.matmul(weights, v).transpose(0, 2, 1, 3).reshape(-1, length, c)
        y = jnp.matmul(y, p["out_proj_weight"].T)
        return y + p["out_proj_bias"] if "out_proj_bias" in p else y

    return node


@CONVERTERS.register(S.MultiHeadAttention)
def multi_head_attention(layer: S.MultiHeadAttention, ctx: BuildContext) -> Node:
    return _attention(layer, ctx)


@CONVERTERS.register(S.MaskedMultiHeadAttention)
def masked_multi_head_attention(layer: S.MaskedMultiHeadAttention, ctx: BuildContext) -> Node:
    return _attention(layer, ctx)


@CONVERTERS.register(S.PaddingMask)
def padding_mask(layer: S.PaddingMask, ctx: BuildContext) -> Node:
    """(N, L) int64 ids -> (N, L) in the build's dtype: 1 where not ``pad_id``, else 0."""
    pad_id, dtype = layer.pad_id, ctx.dtype

    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        return (xs[0] != pad_id).astype(dtype)

    return node
