"""Embedding, Tokens, Untokens, ClassToken, PositionEmbedding and MultiHeadAttention on (N, L, C)
token tensors; attention is PyTorch's own ``scaled_dot_product_attention`` (the fused
kernel ONNX export writes as MatMul/Softmax) with the canonical projection weights (its
attention dropout: the op's ``dropout_p``, or with exact masks a composite, `SelfAttention`)."""

from __future__ import annotations

import math

import torch
from torch import nn

from triptych.common import spec as S
from triptych.frameworks.torch.layers.context import CONVERTERS, BuildContext
from triptych.frameworks.torch.layers.dropout import MaskedDropout


@CONVERTERS.register(S.Embedding)
def embedding(layer: S.Embedding, ctx: BuildContext) -> nn.Module:
    """``nn.Embedding``: (N, L) int64 ids -> (N, L, dim)."""
    return nn.Embedding(layer.num_embeddings, layer.dim)


class ToTokens(nn.Module):
    """(N, C, H, W) -> (N, H·W, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).transpose(1, 2)


class FromTokens(nn.Module):
    """(N, H·W, C) -> (N, C, H, W): token i to pixel (i // W, i % W) (`S.Untokens`). The
    batch is read off the tensor (dynamic in the export: a Shape -> Gather -> Concat
    reshape target under TorchScript, a symbolic one under dynamo)."""

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        self.height, self.width = height, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], self.height, self.width)


class ClassToken(nn.Module):
    """A learned (1, C) ``token`` before the (N, L, C) tokens."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.token.expand(x.shape[0], 1, -1), x], dim=1)


class PositionEmbedding(nn.Module):
    """(N, L, C) + a learned (L, C) ``weight``."""

    def __init__(self, shape: tuple[int, int]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(*shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight


class SelfAttention(nn.Module):
    """``nn.MultiheadAttention``'s computation and parameter names (``in_proj_weight``,
    ``in_proj_bias``, ``out_proj_weight``, ``out_proj_bias``: the canonical ones) on
    batch-first (N, L, C), through ``F.scaled_dot_product_attention``.

    ``dropout`` > 0, in train mode: the attention probabilities are dropped, by the exact
    mask (N, heads, L, L) set on ``prob_dropout`` (`set_dropout_masks`; then the composite
    softmax(q kᵀ / sqrt(d)) · mask, v) or else by the fused op's own ``dropout_p``. Eval
    mode (and the export) is the fused op without dropout; ``prob_dropout`` holds no
    parameters or buffers, so the state_dict is unchanged."""

    def __init__(
        self, channels: int, heads: int, bias: bool, causal: bool, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.heads, self.causal, self.dropout = heads, causal, float(dropout)
        self.in_proj_weight = nn.Parameter(torch.zeros(3 * channels, channels))
        self.out_proj_weight = nn.Parameter(torch.zeros(channels, channels))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * channels)) if bias else None
        self.out_proj_bias = nn.Parameter(torch.zeros(channels)) if bias else None
        self.prob_dropout = MaskedDropout(self.dropout) if self.dropout > 0 else None

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        n, length, c = x.shape
        qkv = nn.functional.linear(x, self.in_proj_weight, self.in_proj_bias)
        qkv = qkv.reshape(n, length, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        mask = None
        if keep is not None:  # (N, L) 1 = attend: a boolean (N, 1, 1, L) mask, True = attend
            mask = (keep > 0.5)[:, None, None, :]
            if self.causal:
                mask = mask & torch.ones(length, length, dtype=torch.bool).tril()
        drop = self.prob_dropout if self.training else None
        if drop is not None and drop.mask is not None:
            y = _attend_masked(qkv[0], qkv[1], qkv[2], mask, self.causal, drop.mask)
        else:
            y = nn.functional.scaled_dot_product_attention(
                qkv[0],
                qkv[1],
                qkv[2],
                attn_mask=mask,
                dropout_p=self.dropout if drop is not None else 0.0,
                is_causal=self.causal and mask is None,
            )
        y = y.transpose(1, 2).reshape(n, length, c)
        return nn.functional.linear(y, self.out_proj_weight, self.out_proj_bias)


def _attend_masked(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attend: torch.Tensor | None,
    causal: bool,
    drop: torch.Tensor,
) -> torch.Tensor:
    """softmax(q kᵀ / sqrt(d)) · ``drop`` (an exact inverted-dropout mask (N, heads, L, L)),
    then v: the fused op's computation with its dropout mask given. ``attend``: a boolean
    mask (True = attend), or None with ``causal`` the lower triangle."""
    length = q.shape[-2]
    scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if attend is None and causal:
        attend = torch.ones(length, length, dtype=torch.bool, device=q.device).tril()
    if attend is not None:
        scores = scores.masked_fill(~attend, float("-inf"))
    return torch.matmul(torch.softmax(scores, dim=-1) * drop, v)


@CONVERTERS.register(S.Tokens)
def tokens(layer: S.Tokens, ctx: BuildContext) -> nn.Module:
    return ToTokens()


@CONVERTERS.register(S.Untokens)
def untokens(layer: S.Untokens, ctx: BuildContext) -> nn.Module:
    return FromTokens(layer.height, layer.width)


@CONVERTERS.register(S.ClassToken)
def class_token(layer: S.ClassToken, ctx: BuildContext) -> nn.Module:
    return ClassToken(ctx.input_shape[1])


@CONVERTERS.register(S.PositionEmbedding)
def position_embedding(layer: S.PositionEmbedding, ctx: BuildContext) -> nn.Module:
    return PositionEmbedding(tuple(ctx.input_shape))


@CONVERTERS.register(S.MultiHeadAttention)
def multi_head_attention(layer: S.MultiHeadAttention, ctx: BuildContext) -> nn.Module:
    return SelfAttention(ctx.input_shape[1], layer.heads, layer.bias, layer.causal, layer.dropout)


class PaddingMask(nn.Module):
    """(N, L) int64 ids -> (N, L) 1.0 where the id is not ``pad_id``, else 0.0."""

    def __init__(self, pad_id: int, dtype: str) -> None:
        super().__init__()
        self.pad_id, self.dtype = pad_id, getattr(torch, dtype)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return (ids != self.pad_id).to(self.dtype)


@CONVERTERS.register(S.PaddingMask)
def padding_mask(layer: S.PaddingMask, ctx: BuildContext) -> nn.Module:
    return PaddingMask(layer.pad_id, ctx.dtype)


@CONVERTERS.register(S.MaskedMultiHeadAttention)
def masked_multi_head_attention(layer: S.MaskedMultiHeadAttention, ctx: BuildContext) -> nn.Module:
    return SelfAttention(ctx.input_shape[1], layer.heads, layer.bias, layer.causal, layer.dropout)
