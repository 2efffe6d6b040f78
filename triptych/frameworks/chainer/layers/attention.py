"""Embedding, Tokens, Untokens, ClassToken, PositionEmbedding and MultiHeadAttention on
(N, L, C) token tensors.

Embedding is Chainer's ``L.EmbedID`` (``W`` (num_embeddings, dim): PyTorch's layout) on the
network's int64 ids as they are; onnx-chainer writes its ``EmbedIDFunction`` as a Gather on
the int64 input.

Tokens is a reshape and a transpose, Untokens a transpose and a reshape (batch -1);
PositionEmbedding an addition broadcasting the (L, C) weight over the batch. ClassToken
concatenates the (1, C) token broadcast to (N, 1, C) by `BroadcastToBatch`, a function node
taking the batch from the tokens themselves: Chainer's ``F.broadcast_to`` takes a fixed
shape, which onnx-chainer writes as an Expand to the trace's batch (2), while the export's
own converter for `BroadcastToBatch` reads the batch off the tokens (Shape -> Slice ->
Expand), so the graph stays batch-free.

MultiHeadAttention is `SelfAttention`: PyTorch's ``nn.MultiheadAttention`` computation with
its parameter names, composed of Chainer's own ops (``F.linear`` on (N·L, C), batched
``F.matmul`` on (N, heads, L, d), ``F.softmax`` over the keys), all of which onnx-chainer
writes as Gemm/MatMul/Softmax. Every reshape leaves the batch to -1 (batch-free export).
PaddingMask (`padding_mask_of`) and MaskedMultiHeadAttention (`SelfAttention` on [tokens,
keep]) are arithmetic onnx-chainer writes as it is."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.chainer.compat import F, L, chainer
from triptych.frameworks.chainer.layers.context import (
    CONVERTERS,
    WEIGHT_LAYOUTS,
    ZERO,
    BuildContext,
    Call,
    NetState,
    cast_params,
    constant,
)
from triptych.frameworks.chainer.layers.dropout import MaskedDropout


@CONVERTERS.register(S.Embedding)
def embedding(layer: S.Embedding, ctx: BuildContext) -> chainer.Link:
    """(N, L) int64 ids -> (N, L, dim): row ``id`` of ``W``."""
    link = L.EmbedID(layer.num_embeddings, layer.dim, initialW=ZERO)
    return cast_params(link, ctx.dtype)


@WEIGHT_LAYOUTS.register(S.Embedding)
def embedding_weights(layer: S.Embedding) -> dict[str, str]:
    return {"weight": "W"}


class BroadcastToBatch(chainer.FunctionNode):
    """(token (1, C), tokens (N, L, C)) -> token broadcast to (N, 1, C); the gradient
    reaches the token only (summed over the batch). The export writes it as an Expand to
    the tokens' own batch (`triptych.frameworks.chainer.export`)."""

    def forward(self, inputs: tuple[Any, ...]) -> tuple[Any]:
        token, x = inputs
        xp = chainer.backend.get_array_module(token)
        return (xp.broadcast_to(token, (x.shape[0], *token.shape)),)

    def backward(self, indexes: tuple[int, ...], grad_outputs: tuple[Any, ...]) -> tuple[Any, ...]:
        (gy,) = grad_outputs
        return F.sum(gy, axis=0), None


def broadcast_to_batch(token: Any, x: Any) -> Any:
    """``token`` (1, C) repeated for each sample of ``x`` (N, L, C): (N, 1, C)."""
    return BroadcastToBatch().apply((token, x))[0]


def to_tokens(x: Any) -> Any:
    """(N, C, H, W) -> (N, H·W, C), pixels row-major."""
    c, h, w = x.shape[1:]
    return F.transpose(F.reshape(x, (-1, c, h * w)), (0, 2, 1))


def from_tokens(x: Any, height: int, width: int) -> Any:
    """(N, H·W, C) -> (N, C, H, W): token i to pixel (i // W, i % W); the batch stays -1."""
    c = x.shape[2]
    return F.reshape(F.transpose(x, (0, 2, 1)), (-1, c, height, width))


class ClassToken(chainer.Link):
    """A learned (1, C) ``token`` put before the (N, L, C) tokens."""

    def __init__(self, channels: int, dtype: np.dtype) -> None:
        super().__init__()
        with self.init_scope():
            self.token = chainer.Parameter(np.zeros((1, channels), dtype))

    def forward(self, x: Any) -> Any:
        return F.concat((broadcast_to_batch(self.token, x), x), axis=1)


class PositionEmbedding(chainer.Link):
    """(N, L, C) + a learned (L, C) ``weight`` (Chainer's arithmetic broadcasts it)."""

    def __init__(self, shape: S.Shape, dtype: np.dtype) -> None:
        super().__init__()
        with self.init_scope():
            self.weight = chainer.Parameter(np.zeros(tuple(shape), dtype))

    def forward(self, x: Any) -> Any:
        return x + self.weight


class SelfAttention(chainer.Link):
    """Multi-head self-attention on (N, L, C) with ``nn.MultiheadAttention``'s parameters
    (``in_proj_weight`` (3C, C) rows q, k, v; ``in_proj_bias`` (3C,); ``out_proj_weight``
    (C, C); ``out_proj_bias`` (C,); no biases when ``bias`` is False): per head,
    softmax(q kᵀ / sqrt(d)) v; ``causal`` adds a constant (L, L) mask, -inf above the
    diagonal (token i attends to j <= i), before the softmax.

    ``keep`` (N, L), the second input of a masked attention (1 attend, 0 ignore: PyTorch's
    key padding mask): its log, 0 or -inf (exact), is added to every head's and query's
    scores of key j: the same values as ``where(keep, scores, -inf)`` (x + 0 is x; Chainer
    has no traceable comparison, and ``F.where``'s condition exports as a constant), so the
    softmax (which subtracts the row max) gives masked keys exactly 0. The mask is derived
    from the int ids, so it takes no gradient.

    ``prob_dropout`` (``dropout`` > 0): a `MaskedDropout` on the attention probabilities
    (N, heads, L, L) in training (its exact mask, or one from the network's generator);
    the identity in inference."""

    def __init__(
        self,
        shape: S.Shape,
        heads: int,
        bias: bool,
        causal: bool,
        dtype: np.dtype,
        dropout: float = 0.0,
        net: NetState | None = None,
    ) -> None:
        super().__init__()
        length, c = (int(s) for s in shape)
        self.length, self.channels, self.heads = length, c, int(heads)
        self.scale = 1.0 / math.sqrt(c // self.heads)
        self.mask = None
        self.prob_dropout = MaskedDropout(dropout, net, dtype) if dropout > 0 else None
        if causal:
            above = np.triu(np.ones((length, length), bool), k=1)
            self.mask = constant(np.where(above, -np.inf, 0.0), dtype)
        with self.init_scope():
            self.in_proj_weight = chainer.Parameter(np.zeros((3 * c, c), dtype))
            self.out_proj_weight = chainer.Parameter(np.zeros((c, c), dtype))
            self.in_proj_bias = chainer.Parameter(np.zeros(3 * c, dtype)) if bias else None
            self.out_proj_bias = chainer.Parameter(np.zeros(c, dtype)) if bias else None

    def forward(self, x: Any, keep: Any | None = None) -> Any:
        length, c, heads = self.length, self.channels, self.heads
        qkv = F.linear(F.reshape(x, (-1, c)), self.in_proj_weight, self.in_proj_bias)
        # (N·L, 3C) -> (N, L, 3, heads, d) -> (3, N, heads, L, d)
        qkv = F.transpose(F.reshape(qkv, (-1, length, 3, heads, c // heads)), (2, 0, 3, 1, 4))
        q, k, v = F.separate(qkv, axis=0)
        scores = F.matmul(q, k, transb=True) * self.scale
        if self.mask is not None:
            scores = scores + self.mask
        if keep is not None:  # (N, L) -> 0 / -inf (N, 1, 1, L), broadcast over heads, queries
            with np.errstate(divide="ignore"):  # log(0) = -inf: meant
                scores = scores + F.reshape(F.log(keep), (-1, 1, 1, length))
        probs = F.softmax(scores, axis=3)  # (N, heads, L, L)
        if self.prob_dropout is not None:
            probs = self.prob_dropout(probs)  # the identity in inference
        y = F.matmul(probs, v)  # (N, heads, L, d)
        y = F.reshape(F.transpose(y, (0, 2, 1, 3)), (-1, c))
        y = F.linear(y, self.out_proj_weight, self.out_proj_bias)
        return F.reshape(y, (-1, length, c))


def padding_mask_of(ids: Any, pad_id: int, dtype: np.dtype) -> Any:
    """(N, L) int64 ids -> (N, L) 1 where the id is not ``pad_id``, else 0, in ``dtype``:
    ``1 - relu(1 - |ids - pad_id|)`` on the ids cast to ``dtype`` (integers: a distance of 0
    or >= 1; exact for ids below 2^24 in float32, 2^53 in float64). Chainer has no
    comparison function, so it is arithmetic onnx-chainer writes as Cast/Sub/Abs/Relu."""
    distance = F.absolute(F.cast(ids, dtype) - float(pad_id))
    return 1.0 - F.relu(1.0 - distance)


@CONVERTERS.register(S.PaddingMask)
def padding_mask(layer: S.PaddingMask, ctx: BuildContext) -> Call:
    return lambda ids: padding_mask_of(ids, layer.pad_id, ctx.dtype)


@CONVERTERS.register(S.MaskedMultiHeadAttention)
def masked_multi_head_attention(
    layer: S.MaskedMultiHeadAttention, ctx: BuildContext
) -> chainer.Link:
    """Called on (tokens (N, L, C), keep (N, L))."""
    return SelfAttention(
        ctx.input_shape, layer.heads, layer.bias, layer.causal, ctx.dtype, layer.dropout, ctx.net
    )


@CONVERTERS.register(S.Tokens)
def tokens(layer: S.Tokens, ctx: BuildContext) -> Call:
    return to_tokens


@CONVERTERS.register(S.Untokens)
def untokens(layer: S.Untokens, ctx: BuildContext) -> Call:
    return functools.partial(from_tokens, height=layer.height, width=layer.width)


@CONVERTERS.register(S.ClassToken)
def class_token(layer: S.ClassToken, ctx: BuildContext) -> chainer.Link:
    return ClassToken(int(ctx.input_shape[1]), ctx.dtype)


@CONVERTERS.register(S.PositionEmbedding)
def position_embedding(layer: S.PositionEmbedding, ctx: BuildContext) -> chainer.Link:
    return PositionEmbedding(ctx.input_shape, ctx.dtype)


@CONVERTERS.register(S.MultiHeadAttention)
def multi_head_attention(layer: S.MultiHeadAttention, ctx: BuildContext) -> chainer.Link:
    return SelfAttention(
        ctx.input_shape, layer.heads, layer.bias, layer.causal, ctx.dtype, layer.dropout, ctx.net
    )


@WEIGHT_LAYOUTS.register(S.ClassToken)
def class_token_weights(layer: S.ClassToken) -> dict[str, str]:
    return {"token": "token"}


@WEIGHT_LAYOUTS.register(S.PositionEmbedding)
def position_embedding_weights(layer: S.PositionEmbedding) -> dict[str, str]:
    return {"weight": "weight"}


@WEIGHT_LAYOUTS.register(S.MultiHeadAttention, S.MaskedMultiHeadAttention)
def multi_head_attention_weights(layer: S.MultiHeadAttention) -> dict[str, str]:
    """The canonical names are the link's own, in the spec's order (weights, then biases)."""
    names = ["in_proj_weight", "out_proj_weight"]
    names += ["in_proj_bias", "out_proj_bias"] if layer.bias else []
    return {n: n for n in names}
