"""Embedding, Tokens, Untokens, ClassToken, PositionEmbedding and MultiHeadAttention on
(N, L, C) token tensors.

Embedding is Gluon's ``nn.Embedding`` (its ``weight`` (num_embeddings, dim) is PyTorch's
layout) on the network's int64 ids as they are: the ``Embedding`` op takes int64 indices
(exact for every id, where float32 ids would round above 2^24), and mx2onnx writes it as a
Cast to int64 (a no-op here) and a Gather, so the exported input is tensor(int64).

MXNet 1.9 has no multi-head attention block with PyTorch's weights (GluonNLP's lives outside
MXNet; the ``interleaved_matmul_selfatt`` contrib ops want the projection rows interleaved
per head, not PyTorch's q, k, v blocks), so `SelfAttention` is a composite of MXNet's own
kernels: one ``FullyConnected`` in-projection (the canonical (3C, C) weight as it is),
``batch_dot`` for q kᵀ and for the weighted sum of v, ``softmax`` over the keys and a
``FullyConnected`` out-projection; heads are folded into the batch by reshape/transpose, no
loop over tokens or heads. A float64 build runs all of it in float64 (the scale is a double
scalar). mx2onnx writes it as Gemm, MatMul, Softmax and Reshape/Transpose/Slice plumbing
(batch dynamic) with no fix-up; ClassToken's ``broadcast_like`` becomes an Expand.
PaddingMask and MaskedMultiHeadAttention (`SelfAttention` on [tokens, keep]): see there."""

from __future__ import annotations

import math

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.mxnet.compat import mx, nn
from triptych.frameworks.mxnet.layers.context import CONVERTERS, WEIGHT_LAYOUTS, BuildContext
from triptych.frameworks.mxnet.layers.dropout import MaskedDropout


@CONVERTERS.register(S.Embedding)
def embedding(layer: S.Embedding, ctx: BuildContext) -> nn.HybridBlock:
    """(N, L) int64 ids -> (N, L, dim): row ``id`` of ``weight``."""
    return nn.Embedding(layer.num_embeddings, layer.dim, dtype=ctx.dtype)


@WEIGHT_LAYOUTS.register(S.Embedding)
def embedding_weights(layer: S.Embedding) -> dict[str, str]:
    return {"weight": "weight"}


class ToTokens(nn.HybridBlock):
    """(N, C, H, W) -> (N, H·W, C): row-major pixels (PyTorch's ``flatten(2).transpose(1,
    2)``) as a reshape to a constant per-sample shape and a transpose."""

    def __init__(self, shape: S.Shape, **kwargs: object) -> None:
        super().__init__(**kwargs)
        c, h, w = shape
        self.flat = (-1, c, h * w)

    def _alias(self) -> str:
        return "tokens"

    def hybrid_forward(self, F, x):  # Gluon passes the namespace as F
        return F.transpose(F.reshape(x, shape=self.flat), axes=(0, 2, 1))


class FromTokens(nn.HybridBlock):
    """(N, H·W, C) -> (N, C, H, W): token i to pixel (i // W, i % W) (`S.Untokens`), a
    transpose and a reshape to a constant per-sample shape (batch -1: it stays dynamic in
    the hybridized graph and in mx2onnx's Reshape)."""

    def __init__(self, channels: int, height: int, width: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.image = (-1, channels, height, width)

    def _alias(self) -> str:
        return "untokens"

    def hybrid_forward(self, F, x):  # Gluon passes the namespace as F
        return F.reshape(F.transpose(x, axes=(0, 2, 1)), shape=self.image)


class ClassToken(nn.HybridBlock):
    """A learned (1, C) ``token`` before the (N, L, C) tokens: the token, as (1, 1, C),
    ``broadcast_like`` the first token of the batch (N, 1, C) (exports as Expand to that
    shape: the batch stays dynamic), then concatenated along the tokens."""

    def __init__(self, channels: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.channels = channels
        with self.name_scope():
            self.token = self.params.get("token", shape=(1, channels), init=mx.init.Zero())

    def _alias(self) -> str:
        return "class_token"

    def hybrid_forward(self, F, x, token):  # Gluon passes the namespace as F
        first = F.slice_axis(x, axis=1, begin=0, end=1)
        tokens = F.broadcast_like(F.reshape(token, shape=(1, 1, self.channels)), first)
        return F.concat(tokens, x, dim=1)


class PositionEmbedding(nn.HybridBlock):
    """(N, L, C) + a learned (L, C) ``weight`` (broadcast over the batch)."""

    def __init__(self, shape: S.Shape, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.shape = (1, *shape)
        with self.name_scope():
            self.weight = self.params.get("weight", shape=tuple(shape), init=mx.init.Zero())

    def _alias(self) -> str:
        return "position_embedding"

    def hybrid_forward(self, F, x, weight):  # Gluon passes the namespace as F
        return F.broadcast_add(x, F.reshape(weight, shape=self.shape))


class SelfAttention(nn.HybridBlock):
    """PyTorch's ``nn.MultiheadAttention`` (batch first, query = key = value) with its
    parameter names and layouts (``in_proj_weight`` (3C, C) rows q, k, v; ``in_proj_bias``;
    ``out_proj_weight``; ``out_proj_bias``): qkv = x Wᵀ + b, split per head into (N·H, L, d),
    softmax(q kᵀ / sqrt(d)) v, heads concatenated, out projection.

    ``causal``: a constant (L, L) mask of 0 (j <= i) and -inf (j > i) added to the scores
    before the softmax (PyTorch's ``is_causal``: exp(-inf) = 0 exactly; every row keeps its
    diagonal, so none is all -inf); made in the build's dtype, not a weight.

    ``keep`` (N, L), the second input of a masked attention (1 attend, 0 ignore: PyTorch's
    key padding mask): its log, 0 or -inf (exact), added to every head's and query's scores
    of key j, the same values as a ``where(keep, scores, -inf)`` (x + 0 is x; mx2onnx has
    no ``where``), so the softmax gives masked keys exactly 0. The mask takes no gradient
    (``BlockGrad``, as PyTorch's boolean mask).

    ``dropout`` > 0: ``prob_dropout``, a `MaskedDropout` on the softmax's probabilities
    (N·H, L, L) in training: its exact mask (N, H, L, L) when set (`set_dropout_masks`),
    else MXNet's own Dropout; in inference MXNet's Dropout is the identity (mx2onnx writes
    an Identity node)."""

    def __init__(
        self,
        shape: S.Shape,
        heads: int,
        bias: bool,
        causal: bool,
        dtype: str,
        dropout: float = 0.0,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        length, c = shape
        self.length, self.channels, self.heads = length, c, heads
        self.depth = c // heads
        self.scale = 1.0 / math.sqrt(self.depth)  # a double: exact in float64 builds
        self.causal = causal
        with self.name_scope():
            self.in_proj_weight = self.params.get("in_proj_weight", shape=(3 * c, c))
            self.out_proj_weight = self.params.get("out_proj_weight", shape=(c, c))
            if bias:
                zero = mx.init.Zero()
                self.in_proj_bias = self.params.get("in_proj_bias", shape=(3 * c,), init=zero)
                self.out_proj_bias = self.params.get("out_proj_bias", shape=(c,), init=zero)
            if causal:
                future = np.triu(np.full((length, length), -np.inf), k=1)
                mask = mx.nd.array(future.reshape(1, length, length), dtype=dtype)
                self.mask = self.params.get_constant("mask", mask)
            self.prob_dropout = MaskedDropout(dropout) if dropout > 0 else None

    def _alias(self) -> str:
        return "attention"

    def _linear(self, F, x, weight, bias, units: int):  # Gluon passes the namespace as F
        """x Wᵀ + b on the last axis (``FullyConnected`` without flattening)."""
        return F.FullyConnected(
            x, weight, bias, no_bias=bias is None, num_hidden=units, flatten=False
        )

    def hybrid_forward(  # Gluon passes the namespace as F and the parameters by name
        self,
        F,
        x,
        keep=None,
        *,
        in_proj_weight,
        out_proj_weight,
        in_proj_bias=None,
        out_proj_bias=None,
        mask=None,
    ):
        length, c, heads, d = self.length, self.channels, self.heads, self.depth
        qkv = self._linear(F, x, in_proj_weight, in_proj_bias, 3 * c)  # (N, L, 3C)
        qkv = F.reshape(qkv, shape=(-1, length, 3, heads, d))
        qkv = F.reshape(F.transpose(qkv, axes=(2, 0, 3, 1, 4)), shape=(3, -1, length, d))
        q, k, v = (
            F.reshape(F.slice_axis(qkv, axis=0, begin=i, end=i + 1), shape=(-1, length, d))
            for i in range(3)
        )  # each (N·H, L, d)
        scores = F.batch_dot(q, k, transpose_b=True) * self.scale  # (N·H, L, L)
        if mask is not None:
            scores = F.broadcast_add(scores, mask)
        if keep is not None:  # (N, L) -> 0 / -inf (N, 1, 1, L) over (N, H, L, L) scores
            ignore = F.reshape(F.log(F.BlockGrad(keep)), shape=(-1, 1, 1, length))
            scores = F.reshape(scores, shape=(-1, heads, length, length))
            scores = F.reshape(F.broadcast_add(scores, ignore), shape=(-1, length, length))
        probs = F.softmax(scores, axis=-1)  # (N·H, L, L)
        drop = self.prob_dropout
        if drop is not None and drop.mask is not None and F is mx.nd and mx.autograd.is_training():
            probs = probs * F.reshape(drop.mask, shape=(-1, length, length))  # exact Dropout
        elif drop is not None:
            probs = drop(probs)  # MXNet's own Dropout (the identity in inference)
        y = F.batch_dot(probs, v)  # (N·H, L, d)
        y = F.transpose(F.reshape(y, shape=(-1, heads, length, d)), axes=(0, 2, 1, 3))
        y = F.reshape(y, shape=(-1, length, c))
        return self._linear(F, y, out_proj_weight, out_proj_bias, c)


class PaddingMask(nn.HybridBlock):
    """(N, L) int64 ids -> (N, L) 1 where the id is not ``pad_id``, else 0, in ``dtype``:
    ``(ids == pad_id) == 0`` on the int64 ids (mx2onnx has ``_equal_scalar`` but no
    ``_not_equal_scalar``), then a cast."""

    def __init__(self, pad_id: int, dtype: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.pad_id, self.out_dtype = int(pad_id), dtype

    def _alias(self) -> str:
        return "padding_mask"

    def hybrid_forward(self, F, ids):  # Gluon passes the namespace as F
        return F.cast((ids == self.pad_id) == 0, dtype=self.out_dtype)


@CONVERTERS.register(S.PaddingMask)
def padding_mask(layer: S.PaddingMask, ctx: BuildContext) -> nn.HybridBlock:
    return PaddingMask(layer.pad_id, ctx.dtype)


@CONVERTERS.register(S.MaskedMultiHeadAttention)
def masked_multi_head_attention(
    layer: S.MaskedMultiHeadAttention, ctx: BuildContext
) -> nn.HybridBlock:
    """Called on (tokens (N, L, C), keep (N, L))."""
    return SelfAttention(
        ctx.input_shape, layer.heads, layer.bias, layer.causal, ctx.dtype, layer.dropout
    )


@CONVERTERS.register(S.Tokens)
def tokens(layer: S.Tokens, ctx: BuildContext) -> nn.HybridBlock:
    return ToTokens(ctx.input_shape)


@CONVERTERS.register(S.Untokens)
def untokens(layer: S.Untokens, ctx: BuildContext) -> nn.HybridBlock:
    return FromTokens(ctx.input_shape[1], layer.height, layer.width)


@CONVERTERS.register(S.ClassToken)
def class_token(layer: S.ClassToken, ctx: BuildContext) -> nn.HybridBlock:
    return ClassToken(ctx.input_shape[1])


@CONVERTERS.register(S.PositionEmbedding)
def position_embedding(layer: S.PositionEmbedding, ctx: BuildContext) -> nn.HybridBlock:
    return PositionEmbedding(ctx.input_shape)


@CONVERTERS.register(S.MultiHeadAttention)
def multi_head_attention(layer: S.MultiHeadAttention, ctx: BuildContext) -> nn.HybridBlock:
    return SelfAttention(
        ctx.input_shape, layer.heads, layer.bias, layer.causal, ctx.dtype, layer.dropout
    )


@WEIGHT_LAYOUTS.register(S.ClassToken)
def class_token_weights(layer: S.ClassToken) -> dict[str, str]:
    return {"token": "token"}


@WEIGHT_LAYOUTS.register(S.PositionEmbedding)
def position_embedding_weights(layer: S.PositionEmbedding) -> dict[str, str]:
    return {"weight": "weight"}


@WEIGHT_LAYOUTS.register(S.MultiHeadAttention, S.MaskedMultiHeadAttention)
def multi_head_attention_weights(layer: S.MultiHeadAttention) -> dict[str, str]:
    names = ["in_proj_weight", "out_proj_weight"]
    if layer.bias:
        names += ["in_proj_bias", "out_proj_bias"]
    return {name: name for name in names}
