"""TensorFlow ops behind the spec's token layers (the ``attention`` family; tokens are
batch-first (N, L, C), PyTorch's ``batch_first``), shared by the TensorFlow/Keras and
Sonnet backends (each wraps them in its own layer or module, which holds the weights).

Token tensors have no NHWC question: they run in the canonical layout as they are. Only
the way in is layout-aware:

* `to_tokens`: NHWC (N, H, W, C) -> (N, H·W, C) is a plain reshape, since NHWC already
  keeps each pixel's channels together in row-major (h, w) order: PyTorch's
  ``x.flatten(2).transpose(1, 2)`` of NCHW, element for element (no transpose).
* `native_axis`: a canonical per-sample axis (Softmax's) on the native tensor: the channel
  axis 0 of a (C, H, W) image is NHWC's last; token and flat axes are only shifted past
  the batch.
* `prepend_token`: the learned (1, C) token broadcast over the batch, concatenated first.
* `self_attention`: ``nn.MultiheadAttention``'s computation (query = key = value) with
  its in/out projections held as (in, out) kernels (`attention_params`): one matmul
  makes q, k and v as (N, L, 3, heads, d), the attention core (`attend`, or an engine's
  own of the same signature) gives (N, L, heads, d), a reshape concatenates the heads,
  one matmul projects out. Every op computes in the input's dtype (float64 builds too).
* `attend_dropped`: the core with attention dropout on the probabilities (training only).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from triptych.frameworks.tensorflow import layout
from triptych.frameworks.tensorflow.compat import tf
from triptych.frameworks.tensorflow.spatial_ops import nhwc_axes

#: the attention core: (q, k, v as (N, L, heads, d), scale, causal) -> (N, L, heads, d)
Attend = Callable[[Any, Any, Any, float, bool], Any]


def to_tokens(x: Any) -> Any:
    """NHWC ``x`` (N, H, W, C) as (N, H·W, C) tokens, row-major pixels."""
    h, w, c = (int(d) for d in x.shape[1:])
    return tf.reshape(x, [-1, h * w, c])


def native_axis(axis: int, rank: int) -> int:
    """Resolved canonical per-sample ``axis`` of a rank-``rank`` per-sample shape as the
    native tensor's axis (batch 0; NHWC for images: channels 0 -> 3)."""
    return nhwc_axes((axis,), rank)[0]


def prepend_token(x: Any, token: Any) -> Any:
    """(N, L, C) ``x`` with the (1, C) ``token`` before its tokens: (N, L + 1, C)."""
    shape = tf.stack([tf.shape(x)[0], 1, tf.shape(x)[2]])
    return tf.concat([tf.broadcast_to(token[None], shape), x], axis=1)


def attend(q: Any, k: Any, v: Any, scale: float, causal: bool) -> Any:
    """softmax(q kᵀ · scale) v per head, in TensorFlow's own batched matmul and softmax
    (it has no fused attention op); ``causal``: token i attends to tokens j <= i (a
    constant lower-triangular mask, -inf elsewhere: the diagonal always stays, so no row
    is empty). q, k, v and the result are (N, L, heads, d)."""
    q, k, v = (tf.transpose(t, [0, 2, 1, 3]) for t in (q, k, v))
    logits = tf.matmul(q, k, transpose_b=True) * scale
    if causal:
        n = int(logits.shape[-1])
        keep = tf.constant(np.tril(np.ones((n, n), bool)))
        logits = tf.where(keep, logits, tf.constant(-np.inf, logits.dtype))
    return tf.transpose(tf.matmul(tf.nn.softmax(logits, axis=-1), v), [0, 2, 1, 3])


def attend_dropped(
    q: Any,
    k: Any,
    v: Any,
    scale: float,
    causal: bool,
    keep: Any | None,
    drop: Callable[[Any], Any],
) -> Any:
    """`attend` with attention dropout: ``drop`` applied to the probabilities (N, heads,
    L, L) after the softmax, before they weight v (a layer's exact mask or its own RNG,
    PyTorch's ``nn.MultiheadAttention(dropout=p)`` in training). ``keep`` (N, L), 1 attend,
    0 ignore, or None: the scores of ignored keys are -inf, and'ed with the causal
    triangle. q, k, v and the result are (N, L, heads, d)."""
    q, k, v = (tf.transpose(t, [0, 2, 1, 3]) for t in (q, k, v))
    logits = tf.matmul(q, k, transpose_b=True) * scale
    mask = None if keep is None else (keep > 0.5)[:, None, None, :]
    if causal:
        n = int(logits.shape[-1])
        tril = tf.constant(np.tril(np.ones((n, n), bool)))
        mask = tril if mask is None else tf.logical_and(mask, tril)
    if mask is not None:
        logits = tf.where(mask, logits, tf.constant(-np.inf, logits.dtype))
    probs = drop(tf.nn.softmax(logits, axis=-1))
    return tf.transpose(tf.matmul(probs, v), [0, 2, 1, 3])


def self_attention(
    x: Any,
    in_kernel: Any,
    in_bias: Any | None,
    out_kernel: Any,
    out_bias: Any | None,
    heads: int,
    causal: bool,
    core: Attend = attend,
) -> Any:
    """Multi-head self-attention of (N, L, C) ``x``: ``in_kernel`` (C, 3C) (q, k, v
    columns), ``out_kernel`` (C, C), biases (3C,) and (C,) or None; the ``core`` attends
    per head with scale 1/sqrt(C / heads) (a Python float: exact in either dtype)."""
    length, c = int(x.shape[1]), int(x.shape[2])
    d = c // heads
    qkv = tf.matmul(x, in_kernel)
    if in_bias is not None:
        qkv = qkv + in_bias
    qkv = tf.reshape(qkv, [-1, length, 3, heads, d])
    y = core(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2], 1.0 / math.sqrt(d), causal)
    y = tf.matmul(tf.reshape(y, [-1, length, c]), out_kernel)
    return y if out_bias is None else y + out_bias


def attention_params(
    in_kernel: Any, in_bias: Any | None, out_kernel: Any, out_bias: Any | None
) -> layout.ParamMap:
    """The canonical ``in_proj_weight`` (3C, C), ``out_proj_weight`` (C, C) and their
    biases as (in, out) kernels (a dense layer's move each: transposed) and vectors."""
    out: layout.ParamMap = {}
    for prefix, kernel, bias in (
        ("in_proj_", in_kernel, in_bias),
        ("out_proj_", out_kernel, out_bias),
    ):
        dense = layout.dense_params(kernel, bias, None, None)
        out |= {prefix + name: param for name, param in dense.items()}
    return out


def as_is_params(variables: dict[str, Any]) -> layout.ParamMap:
    """Parameters held in the canonical shape and layout (a class token, a position
    embedding): copied both ways."""
    return layout.vector_params(variables, None)
