"""Token layers: image patches to tokens and tokens back to an image (a masked autoencoder's
decoder), a learned class token and position embedding, and multi-head self-attention over
(L, C) token tensors (a ViT, a text encoder's blocks).

A token tensor is per sample (L, C): L tokens of C features (PyTorch's ``batch_first``
layout, (N, L, C) with the batch). `Dense`, `LayerNorm`, `Softmax`, the activations,
`Dropout`, `Add` and `ReduceMean((0,), keepdims=False)` (mean over tokens) take them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import ClassVar

from triptych.common.layers.base import (
    Layer,
    Shape,
    SpecError,
    _need_rank,
    numel,
    vocabulary,
)

#: how a parameter is drawn regardless of the network's init scheme: ("normal", std),
#: ("uniform", bound) or ("constant", value)
Draw = tuple[str, float]


@vocabulary
@dataclass(frozen=True)
class Embedding(Layer):
    """int64 token ids (L,) -> (L, dim): row ``id`` of a learned ``weight`` (num_embeddings,
    dim) per token (PyTorch's ``nn.Embedding``, initially N(0, 1)). It reads the network's
    int64 input (``S.Input((L,), dtype="int64")``); ids outside [0, num_embeddings) are an
    error in every backend that checks (PyTorch, NumPy) and undefined in the others."""

    num_embeddings: int
    dim: int
    kind: ClassVar[str] = "embedding"
    takes_ids: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_embeddings < 1 or self.dim < 1:
            raise SpecError(
                f"embedding needs num_embeddings >= 1 and dim >= 1, got "
                f"{self.num_embeddings}, {self.dim}"
            )

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (1,), " (the int64 token ids)")
        return (shape[0], self.dim)

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        return {"weight": (self.num_embeddings, self.dim)}

    def initial_draws(self, shape: Shape) -> dict[str, Draw]:
        return {"weight": ("normal", 1.0)}

    def flops(self, shape: Shape) -> int:
        return 0


@vocabulary
@dataclass(frozen=True)
class Tokens(Layer):
    """(C, H, W) -> (H·W, C): each pixel a token, row-major (ViT's
    ``x.flatten(2).transpose(1, 2)`` after its patch convolution)."""

    kind: ClassVar[str] = "tokens"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        return (shape[1] * shape[2], shape[0])


@vocabulary
@dataclass(frozen=True)
class Untokens(Layer):
    """(L, C) tokens -> a (C, height, width) image, L = height·width (the inverse of
    `Tokens`): token i becomes pixel (i // width, i % width), its C features the pixel's
    channels (PyTorch's ``x.transpose(1, 2).reshape(n, c, height, width)``; a masked
    autoencoder's decoder before its ConvTranspose2d back to the image). ``height`` and
    ``width`` are in pixels of the output (tokens per column and per row). No parameters,
    no flops: it moves elements only."""

    height: int
    width: int
    kind: ClassVar[str] = "untokens"

    def __post_init__(self) -> None:
        super().__post_init__()
        for axis in ("height", "width"):
            value = getattr(self, axis)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise SpecError(
                    f"untokens {axis} {value!r}: allowed an int >= 1 (pixels of the output image)"
                )
            object.__setattr__(self, axis, int(value))

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (2,), "; allowed: (L, C) tokens")
        length, channels = shape
        if length != self.height * self.width:
            raise SpecError(
                f"untokens ({self.height}, {self.width}) needs height·width = "
                f"{self.height * self.width} tokens, the input has {length} (input shape "
                f"{shape}); allowed: height and width whose product is {length}"
            )
        return (channels, self.height, self.width)


@vocabulary
@dataclass(frozen=True)
class ClassToken(Layer):
    """(L, C) -> (L + 1, C): a learned token (``token``, (1, C), initially 0 as
    torchvision's) put before the others."""

    kind: ClassVar[str] = "class_token"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (2,))
        return (shape[0] + 1, shape[1])

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        return {"token": (1, shape[1])}

    def initial_draws(self, shape: Shape) -> dict[str, Draw]:
        return {"token": ("constant", 0.0)}


@vocabulary
@dataclass(frozen=True)
class PositionEmbedding(Layer):
    """(L, C) + a learned (L, C) ``weight`` (initially N(0, 0.02²), torchvision's ViT)."""

    kind: ClassVar[str] = "position_embedding"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (2,))
        return shape

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        return {"weight": tuple(shape)}

    def initial_draws(self, shape: Shape) -> dict[str, Draw]:
        return {"weight": ("normal", 0.02)}

    def flops(self, shape: Shape) -> int:
        return numel(shape)


@vocabulary
@dataclass(frozen=True)
class MultiHeadAttention(Layer):
    """Multi-head self-attention over (L, C) tokens, ``heads`` dividing C; PyTorch's
    ``nn.MultiheadAttention(C, heads, bias=bias, batch_first=True)`` with query = key =
    value, and its weight layout: ``in_proj_weight`` (3C, C) (q, k, v rows),
    ``in_proj_bias`` (3C,), ``out_proj_weight`` (C, C), ``out_proj_bias`` (C,).
    softmax(q kᵀ / sqrt(C / heads)) v per head; ``causal``: token i attends to tokens <= i.
    Initially in_proj_weight ~ U(±sqrt(6 / 4C)) (Xavier, as PyTorch), out_proj_weight ~
    U(±1/sqrt(C)), biases 0.

    ``dropout`` (0 <= p < 1; PyTorch's ``dropout``, Keras's): in training the attention
    probabilities (after the softmax, before they weight v) are dropped with probability p,
    the rest scaled by 1/(1-p); the identity in inference (exports are unchanged). It is a
    Dropout for exact masks (`triptych.common.dropout`): one keep per sample, head, query
    and key, `mask_shape` (heads, L, L)."""

    heads: int
    bias: bool = True
    causal: bool = False
    dropout: float = 0.0
    kind: ClassVar[str] = "multi_head_attention"
    omit_default: ClassVar[tuple[str, ...]] = ("dropout",)

    def __post_init__(self) -> None:
        super().__post_init__()
        p = self.dropout
        if isinstance(p, bool) or not isinstance(p, Real) or not 0.0 <= float(p) < 1.0:
            raise SpecError(
                f"{self.kind} dropout {p!r}: allowed a float in [0, 1) (the probability of "
                "dropping an attention probability in training)"
            )
        object.__setattr__(self, "dropout", float(p))

    def mask_shape(self, shape: Shape) -> Shape:
        """Per-sample shape of the exact-Dropout keep-mask on the attention probabilities
        for tokens of ``shape`` (L, C) (batch excluded): (heads, L, L), one keep per head,
        query and key."""
        return (self.heads, shape[0], shape[0])

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (2,))
        if self.heads < 1 or shape[1] % self.heads:
            raise SpecError(
                f"multi_head_attention heads {self.heads} must divide the features ({shape[1]})"
            )
        return shape

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        c = shape[1]
        p = {"in_proj_weight": (3 * c, c), "out_proj_weight": (c, c)}
        if self.bias:
            p |= {"in_proj_bias": (3 * c,), "out_proj_bias": (c,)}
        return p

    def initial_draws(self, shape: Shape) -> dict[str, Draw]:
        c = shape[1]
        draws = {
            "in_proj_weight": ("uniform", (6.0 / (4 * c)) ** 0.5),
            "out_proj_weight": ("uniform", 1.0 / c**0.5),
        }
        if self.bias:
            draws |= {"in_proj_bias": ("constant", 0.0), "out_proj_bias": ("constant", 0.0)}
        return draws

    def flops(self, shape: Shape) -> int:
        n, c = shape
        return 2 * n * c * 4 * c + 2 * 2 * n * n * c + 5 * self.heads * n * n


@vocabulary
@dataclass(frozen=True)
class PaddingMask(Layer):
    """int64 token ids (L,) -> (L,) float: 1 where the token is not ``pad_id``, 0 where it
    is padding (the keys `MaskedMultiHeadAttention` ignores). It reads the network's int64
    input, as `Embedding` does."""

    pad_id: int = 0
    kind: ClassVar[str] = "padding_mask"
    takes_ids: ClassVar[bool] = True

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (1,), " (the int64 token ids)")
        return shape

    def flops(self, shape: Shape) -> int:
        return numel(shape)


@vocabulary
@dataclass(frozen=True)
class MaskedMultiHeadAttention(MultiHeadAttention):
    """`MultiHeadAttention` with a key-padding mask: called on ``[tokens (L, C), keep (L,)]``
    (``keep`` from `PaddingMask`: 1 attend, 0 ignore), PyTorch's ``key_padding_mask`` (True
    = ignore) with the same weights. Every sample needs one kept key (PyTorch gives NaN
    rows otherwise)."""

    kind: ClassVar[str] = "masked_multi_head_attention"
    merge: ClassVar[bool] = True
    min_inputs: ClassVar[int] = 2

    def merge_shape(self, shapes: list[Shape]) -> Shape:
        if len(shapes) != 2:
            raise SpecError(f"{self.kind} takes [tokens, keep mask], got {len(shapes)} inputs")
        tokens, keep = shapes
        out = self.output_shape(tokens)
        if tuple(keep) != (tokens[0],):
            raise SpecError(f"{self.kind}: the keep mask must be ({tokens[0]},), got {keep}")
        return out

    def flops_multi(self, shapes: list[Shape]) -> int:
        return self.flops(shapes[0]) + self.heads * shapes[0][0] ** 2
