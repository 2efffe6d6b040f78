"""Embedding, Tokens, ClassToken, PositionEmbedding and MultiHeadAttention on (N, L, C) token
tensors (canonical layout: tokens have no NHWC question) through the TensorFlow backend's
`token_ops`. Embedding is Sonnet's own ``snt.Embed`` (``tf.nn.embedding_lookup`` of the (N, L) int64
ids in its ``embeddings`` (num, dim): the canonical weight as it is; its gradient densified, as
PyTorch's ``nn.Embedding``'s is dense). Tokens of an NHWC image are a plain reshape (row-major
pixels, as PyTorch's), and so is Untokens back to NHWC; attention is TensorFlow's own batched
matmul and softmax (`token_ops.attend`: neither Sonnet nor TensorFlow has a fused attention op)
between the canonical in/out projections, held as (in, out) kernels. The ``snt.Module``s here
hold their variables in the build's dtype. PaddingMask is ``ids != pad_id`` cast;
MaskedMultiHeadAttention is the same `SelfAttention` on [tokens, keep], its core
`masked_attend` (scores of ignored keys -inf before the softmax). Attention dropout
(training only): `SelfAttention`."""

from __future__ import annotations

from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.sonnet.compat import snt, tf
from triptych.frameworks.sonnet.layers.context import (
    CONVERTERS,
    WEIGHT_LAYOUTS,
    ZEROS,
    BuildContext,
    SonnetNode,
)
from triptych.frameworks.sonnet.layers.dropout import MaskedDropout
from triptych.frameworks.tensorflow import layout, token_ops


class ClassToken(snt.Module):
    """A learned (1, C) ``token`` before the (N, L, C) tokens."""

    def __init__(self, channels: int, name: str | None = None, dtype: str = "float32") -> None:
        super().__init__(name=name)
        self.token = tf.Variable(tf.zeros([1, channels], dtype), name="token")

    def __call__(self, x: Any) -> Any:
        return token_ops.prepend_token(x, self.token)


class PositionEmbedding(snt.Module):
    """(N, L, C) + a learned (L, C) ``weight``."""

    def __init__(self, shape: S.Shape, name: str | None = None, dtype: str = "float32") -> None:
        super().__init__(name=name)
        self.weight = tf.Variable(tf.zeros(list(shape), dtype), name="weight")

    def __call__(self, x: Any) -> Any:
        return x + self.weight


class SelfAttention(snt.Module):
    """``nn.MultiheadAttention``'s self-attention on (N, L, C): ``in_kernel`` (C, 3C),
    ``out_kernel`` (C, C) and (with ``bias``) ``in_bias`` (3C,), ``out_bias`` (C,).

    ``prob_dropout`` (``dropout`` > 0): a `MaskedDropout` on the attention probabilities in
    training (`token_ops.attend_dropped`: the exact mask (N, heads, L, L), or one from the
    network's generator); inference is the core without dropout."""

    def __init__(
        self,
        channels: int,
        heads: int,
        bias: bool,
        causal: bool,
        name: str | None = None,
        dtype: str = "float32",
        dropout: float = 0.0,
        rng: tf.random.Generator | None = None,
    ) -> None:
        super().__init__(name=name)
        self.heads, self.causal = int(heads), bool(causal)
        c = int(channels)

        def zeros(shape: list[int], what: str) -> tf.Variable:
            return tf.Variable(tf.zeros(shape, dtype), name=what)

        self.in_kernel = zeros([c, 3 * c], "in_kernel")
        self.in_bias = zeros([3 * c], "in_bias") if bias else None
        self.out_kernel = zeros([c, c], "out_kernel")
        self.out_bias = zeros([c], "out_bias") if bias else None
        self.prob_dropout = None
        if dropout > 0:
            self.prob_dropout = MaskedDropout(dropout, rng, name="prob_dropout", dtype=dtype)

    def __call__(self, x: Any, keep: Any | None = None, is_training: bool = False) -> Any:
        """``keep`` (N, L), 1 attend, 0 ignore: PyTorch's key padding mask (`masked_attend`)."""
        drop = self.prob_dropout if is_training else None

        def core(q: Any, k: Any, v: Any, scale: float, causal: bool) -> Any:
            if drop is not None:
                return token_ops.attend_dropped(
                    q, k, v, scale, causal, keep, lambda p: drop(p, True)
                )
            return masked_attend(q, k, v, scale, causal, keep)

        return token_ops.self_attention(
            x,
            self.in_kernel,
            self.in_bias,
            self.out_kernel,
            self.out_bias,
            self.heads,
            self.causal,
            core=token_ops.attend if keep is None and drop is None else core,
        )


def masked_attend(q: Any, k: Any, v: Any, scale: float, causal: bool, keep: Any) -> Any:
    """`token_ops.attend` with a key padding mask: the scores of keys j whose ``keep``
    (N, L) is 0 are -inf (for every head and query; and'ed with the causal triangle), so
    the softmax (which subtracts the row's max first) gives them exactly 0, as PyTorch's
    boolean ``attn_mask``. q, k, v and the result are (N, L, heads, d)."""
    q, k, v = (tf.transpose(t, [0, 2, 1, 3]) for t in (q, k, v))
    logits = tf.matmul(q, k, transpose_b=True) * scale
    mask = (keep > 0.5)[:, None, None, :]
    if causal:
        n = int(logits.shape[-1])
        mask = tf.logical_and(mask, tf.constant(np.tril(np.ones((n, n), bool))))
    logits = tf.where(mask, logits, tf.constant(-np.inf, logits.dtype))
    return tf.transpose(tf.matmul(tf.nn.softmax(logits, axis=-1), v), [0, 2, 1, 3])


class PaddingMask(snt.Module):
    """(N, L) int64 ids -> (N, L) 1 where the id is not ``pad_id``, else 0, in ``dtype``."""

    def __init__(self, pad_id: int, name: str | None = None, dtype: str = "float32") -> None:
        super().__init__(name=name)
        self.pad_id, self.dtype = int(pad_id), tf.as_dtype(dtype)

    def __call__(self, ids: Any) -> Any:
        return tf.cast(tf.not_equal(ids, tf.constant(self.pad_id, ids.dtype)), self.dtype)


@CONVERTERS.register(S.Embedding)
def embedding(layer: S.Embedding, ctx: BuildContext) -> SonnetNode:
    """(N, L) int64 ids -> (N, L, dim) of the build's dtype."""
    mod = snt.Embed(
        layer.num_embeddings,
        layer.dim,
        densify_gradients=True,
        initializer=ZEROS,
        dtype=tf.as_dtype(ctx.dtype),
        name=ctx.name,
    )
    return SonnetNode(lambda xs, t: mod(xs[0]), mod)


@WEIGHT_LAYOUTS.register(S.Embedding)
def embedding_weights(layer: S.Embedding, holder: snt.Embed, ctx: BuildContext) -> layout.ParamMap:
    return token_ops.as_is_params({"weight": holder.embeddings})


@CONVERTERS.register(S.Tokens)
def tokens(layer: S.Tokens, ctx: BuildContext) -> SonnetNode:
    return SonnetNode(lambda xs, t: token_ops.to_tokens(xs[0]))


@CONVERTERS.register(S.Untokens)
def untokens(layer: S.Untokens, ctx: BuildContext) -> SonnetNode:
    """(N, H·W, C) tokens -> the NHWC image (N, H, W, C): a plain reshape, `Tokens` undone
    (token i is pixel (i // W, i % W) with its C channels last); the batch stays -1."""
    shape = [-1, layer.height, layer.width, ctx.input_shape[1]]
    return SonnetNode(lambda xs, t: tf.reshape(xs[0], shape))


@CONVERTERS.register(S.ClassToken)
def class_token(layer: S.ClassToken, ctx: BuildContext) -> SonnetNode:
    mod = ClassToken(ctx.input_shape[1], name=ctx.name, dtype=ctx.dtype)
    return SonnetNode(lambda xs, t: mod(xs[0]), mod)


@WEIGHT_LAYOUTS.register(S.ClassToken)
def class_token_weights(
    layer: S.ClassToken, holder: ClassToken, ctx: BuildContext
) -> layout.ParamMap:
    return token_ops.as_is_params({"token": holder.token})


@CONVERTERS.register(S.PositionEmbedding)
def position_embedding(layer: S.PositionEmbedding, ctx: BuildContext) -> SonnetNode:
    mod = PositionEmbedding(ctx.input_shape, name=ctx.name, dtype=ctx.dtype)
    return SonnetNode(lambda xs, t: mod(xs[0]), mod)


@WEIGHT_LAYOUTS.register(S.PositionEmbedding)
def position_embedding_weights(
    layer: S.PositionEmbedding, holder: PositionEmbedding, ctx: BuildContext
) -> layout.ParamMap:
    return token_ops.as_is_params({"weight": holder.weight})


def _self_attention(layer: S.MultiHeadAttention, ctx: BuildContext) -> SelfAttention:
    return SelfAttention(
        ctx.input_shape[1],
        layer.heads,
        layer.bias,
        layer.causal,
        name=ctx.name,
        dtype=ctx.dtype,
        dropout=layer.dropout,
        rng=ctx.rng,
    )


@CONVERTERS.register(S.MultiHeadAttention)
def multi_head_attention(layer: S.MultiHeadAttention, ctx: BuildContext) -> SonnetNode:
    mod = _self_attention(layer, ctx)
    return SonnetNode(lambda xs, t: mod(xs[0], None, t), mod)


@CONVERTERS.register(S.MaskedMultiHeadAttention)
def masked_multi_head_attention(layer: S.MaskedMultiHeadAttention, ctx: BuildContext) -> SonnetNode:
    """Called on [tokens (N, L, C), keep (N, L)]."""
    mod = _self_attention(layer, ctx)
    return SonnetNode(lambda xs, t: mod(xs[0], xs[1], t), mod)


@CONVERTERS.register(S.PaddingMask)
def padding_mask(layer: S.PaddingMask, ctx: BuildContext) -> SonnetNode:
    mask = PaddingMask(layer.pad_id, name=ctx.name, dtype=ctx.dtype)
    return SonnetNode(lambda xs, t: mask(xs[0]))


@WEIGHT_LAYOUTS.register(S.MultiHeadAttention, S.MaskedMultiHeadAttention)
def multi_head_attention_weights(
    layer: S.MultiHeadAttention, holder: SelfAttention, ctx: BuildContext
) -> layout.ParamMap:
    return token_ops.attention_params(
        holder.in_kernel, holder.in_bias, holder.out_kernel, holder.out_bias
    )
