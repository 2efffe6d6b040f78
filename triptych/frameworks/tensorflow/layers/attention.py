"""Embedding, Tokens, ClassToken, PositionEmbedding and MultiHeadAttention on (N, L, C) token
tensors (canonical layout: tokens have no NHWC question) through `token_ops`. Embedding is
`Embedding`, a plain ``tf.gather`` of rows of its ``embeddings`` (num, dim) (the canonical
weight as it is) by the (N, L) int64 ids: one ONNX ``Gather`` on the graph input (Keras's own
``keras.layers.Embedding`` wraps negative ids first, five more ONNX ops). Tokens of an NHWC
image are a plain ``Reshape`` (row-major pixels, as PyTorch's), and so is Untokens back to
NHWC; attention is Keras's own ``keras.ops.dot_product_attention`` (its scale given as a
tensor of the build's dtype, so a float64 build scales in float64; its causal mask is the
same lower triangle) between the canonical in/out projections, held as (in, out) kernels.
PaddingMask is ``ids != pad_id`` cast; MaskedMultiHeadAttention is the same attention on
[tokens, keep], its keep mask the op's own boolean ``mask``. Attention dropout (training
only): `SelfAttention`."""

from __future__ import annotations

from typing import Any

from keras import ops

from triptych.common import spec as S
from triptych.frameworks.tensorflow import layout, token_ops
from triptych.frameworks.tensorflow.compat import keras, tf
from triptych.frameworks.tensorflow.layers.context import (
    CONVERTERS,
    WEIGHT_LAYOUTS,
    BuildContext,
    KerasNode,
)
from triptych.frameworks.tensorflow.layers.dropout import MaskedDropout


class ClassToken(keras.layers.Layer):
    """A learned (1, C) ``token`` before the (N, L, C) tokens."""

    def build(self, shape: Any) -> None:
        self.token = self.add_weight(shape=(1, shape[-1]), initializer="zeros", name="token")

    def call(self, x: Any) -> Any:
        return token_ops.prepend_token(x, self.token)

    def compute_output_shape(self, shape: Any) -> Any:
        n, length, c = shape
        return (n, None if length is None else length + 1, c)


class PositionEmbedding(keras.layers.Layer):
    """(N, L, C) + a learned (L, C) ``weight``."""

    def build(self, shape: Any) -> None:
        self.weight = self.add_weight(shape=tuple(shape[1:]), initializer="zeros", name="weight")

    def call(self, x: Any) -> Any:
        return x + self.weight

    def compute_output_shape(self, shape: Any) -> Any:
        return shape


def _keras_attend(
    q: Any, k: Any, v: Any, scale: float, causal: bool, keep: Any | None = None
) -> Any:
    """`token_ops.Attend` by Keras's own attention op ((N, L, heads, d) in and out). The
    scale goes in as a tensor of q's dtype: the op's ``tf.cast`` of a Python float makes a
    float32 constant first (1/sqrt(2) rounded: float64 results 5e-11 off). ``keep`` (N, L)
    (1 attend, 0 ignore) becomes the op's boolean key mask (N, 1, 1, L), and'ed with its
    causal triangle; its masked scores are a large negative number, whose exp after the
    softmax's max subtraction is exactly 0, as PyTorch's -inf."""
    scale_t = tf.constant(scale, q.dtype)
    mask = None if keep is None else (keep > 0.5)[:, None, None, :]
    return ops.dot_product_attention(q, k, v, mask=mask, scale=scale_t, is_causal=causal)


class SelfAttention(keras.layers.Layer):
    """``nn.MultiheadAttention``'s self-attention on (N, L, C): ``in_kernel`` (C, 3C),
    ``out_kernel`` (C, C) and (with ``bias``) ``in_bias`` (3C,), ``out_bias`` (C,).

    ``dropout`` > 0: in training the attention probabilities go through ``prob_dropout``, a
    `MaskedDropout` (the exact mask (N, heads, L, L) of `set_dropout_masks` or of a masked
    step, else Keras's own Dropout, as ``keras.layers.MultiHeadAttention(dropout=p)``), in
    `token_ops.attend_dropped`; inference (and the export) is Keras's attention op as
    without dropout."""

    def __init__(
        self, heads: int, bias: bool, causal: bool, dropout: float = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.heads, self.bias, self.causal = int(heads), bool(bias), bool(causal)
        self.prob_dropout = None
        if dropout > 0:
            dtype = kwargs.get("dtype")
            self.prob_dropout = MaskedDropout(float(dropout), dtype=dtype)

    def build(self, shape: Any) -> None:
        c = int(shape[-1])
        self.in_kernel = self._zeros((c, 3 * c), "in_kernel")
        self.in_bias = self._zeros((3 * c,), "in_bias") if self.bias else None
        self.out_kernel = self._zeros((c, c), "out_kernel")
        self.out_bias = self._zeros((c,), "out_bias") if self.bias else None

    def _zeros(self, shape: tuple[int, ...], name: str) -> Any:
        # weights are loaded after building: Keras's initialisers would only cost time
        return self.add_weight(shape=shape, initializer="zeros", name=name)

    def call(self, x: Any, training: bool | None = None) -> Any:
        return self._attend(x, None, training)

    def _attend(self, x: Any, keep: Any | None, training: bool | None = None) -> Any:
        drop = self.prob_dropout if training else None

        def core(q: Any, k: Any, v: Any, scale: float, causal: bool) -> Any:
            if drop is not None:
                return token_ops.attend_dropped(
                    q, k, v, scale, causal, keep, lambda p: drop(p, training=True)
                )
            return _keras_attend(q, k, v, scale, causal, keep)

        return token_ops.self_attention(
            x,
            self.in_kernel,
            self.in_bias,
            self.out_kernel,
            self.out_bias,
            self.heads,
            self.causal,
            core=core,
        )

    def compute_output_shape(self, shape: Any) -> Any:
        return shape


class MaskedSelfAttention(SelfAttention):
    """`SelfAttention` called on ``[tokens (N, L, C), keep (N, L)]``: keys whose ``keep``
    is 0 are ignored (PyTorch's key padding mask)."""

    def build(self, shapes: Any) -> None:
        super().build(shapes[0])

    def call(self, inputs: list[Any], training: bool | None = None) -> Any:
        x, keep = inputs
        return self._attend(x, keep, training)

    def compute_output_shape(self, shapes: Any) -> Any:
        return shapes[0]


class PaddingMask(keras.layers.Layer):
    """(N, L) int64 ids -> (N, L) 1 where the id is not ``pad_id``, else 0, in the layer's
    dtype (the ids are not cast: Keras casts only floating inputs)."""

    def __init__(self, pad_id: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pad_id = int(pad_id)

    def call(self, ids: Any) -> Any:
        return tf.cast(tf.not_equal(ids, tf.constant(self.pad_id, ids.dtype)), self.compute_dtype)

    def compute_output_shape(self, shape: Any) -> Any:
        return shape


class Embedding(keras.layers.Layer):
    """(N, L) int64 ids -> (N, L, dim): row ``id`` of ``embeddings`` (num, dim), of the
    layer's dtype (the ids are not cast: Keras casts only floating inputs)."""

    def __init__(self, num: int, dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num, self.dim = int(num), int(dim)

    def build(self, shape: Any) -> None:
        self.embeddings = self.add_weight(
            shape=(self.num, self.dim), initializer="zeros", name="embeddings"
        )

    def call(self, ids: Any) -> Any:
        return tf.gather(self.embeddings, ids)

    def compute_output_shape(self, shape: Any) -> Any:
        return (*shape, self.dim)


@CONVERTERS.register(S.Embedding)
def embedding(layer: S.Embedding, ctx: BuildContext) -> KerasNode:
    """(N, L) int64 ids -> (N, L, dim) in the build's dtype."""
    made = Embedding(layer.num_embeddings, layer.dim, **ctx.kw)
    return KerasNode.of(made, holder=made)


@WEIGHT_LAYOUTS.register(S.Embedding)
def embedding_weights(layer: S.Embedding, holder: Embedding, ctx: BuildContext) -> layout.ParamMap:
    return token_ops.as_is_params({"weight": holder.embeddings})


@CONVERTERS.register(S.Tokens)
def tokens(layer: S.Tokens, ctx: BuildContext) -> KerasNode:
    c, h, w = ctx.input_shape
    return KerasNode.of(keras.layers.Reshape((h * w, c), **ctx.kw))


@CONVERTERS.register(S.Untokens)
def untokens(layer: S.Untokens, ctx: BuildContext) -> KerasNode:
    """(N, H·W, C) tokens -> the NHWC image (N, H, W, C): a plain reshape, `Tokens` undone
    (token i is pixel (i // W, i % W) with its C channels last, NHWC's own order)."""
    _length, c = ctx.input_shape
    return KerasNode.of(keras.layers.Reshape((layer.height, layer.width, c), **ctx.kw))


@CONVERTERS.register(S.ClassToken)
def class_token(layer: S.ClassToken, ctx: BuildContext) -> KerasNode:
    made = ClassToken(**ctx.kw)
    return KerasNode.of(made, holder=made)


@WEIGHT_LAYOUTS.register(S.ClassToken)
def class_token_weights(
    layer: S.ClassToken, holder: ClassToken, ctx: BuildContext
) -> layout.ParamMap:
    return token_ops.as_is_params({"token": holder.token})


@CONVERTERS.register(S.PositionEmbedding)
def position_embedding(layer: S.PositionEmbedding, ctx: BuildContext) -> KerasNode:
    made = PositionEmbedding(**ctx.kw)
    return KerasNode.of(made, holder=made)


@WEIGHT_LAYOUTS.register(S.PositionEmbedding)
def position_embedding_weights(
    layer: S.PositionEmbedding, holder: PositionEmbedding, ctx: BuildContext
) -> layout.ParamMap:
    return token_ops.as_is_params({"weight": holder.weight})


@CONVERTERS.register(S.MultiHeadAttention)
def multi_head_attention(layer: S.MultiHeadAttention, ctx: BuildContext) -> KerasNode:
    made = SelfAttention(layer.heads, layer.bias, layer.causal, layer.dropout, **ctx.kw)
    return KerasNode.of(made, holder=made)


@CONVERTERS.register(S.MaskedMultiHeadAttention)
def masked_multi_head_attention(layer: S.MaskedMultiHeadAttention, ctx: BuildContext) -> KerasNode:
    made = MaskedSelfAttention(layer.heads, layer.bias, layer.causal, layer.dropout, **ctx.kw)
    return KerasNode.of(made, holder=made)


@CONVERTERS.register(S.PaddingMask)
def padding_mask(layer: S.PaddingMask, ctx: BuildContext) -> KerasNode:
    return KerasNode.of(PaddingMask(layer.pad_id, **ctx.kw))


@WEIGHT_LAYOUTS.register(S.MultiHeadAttention, S.MaskedMultiHeadAttention)
def multi_head_attention_weights(
    layer: S.MultiHeadAttention, holder: SelfAttention, ctx: BuildContext
) -> layout.ParamMap:
    return token_ops.attention_params(
        holder.in_kernel, holder.in_bias, holder.out_kernel, holder.out_bias
    )
