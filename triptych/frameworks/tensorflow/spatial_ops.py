"""NHWC TensorFlow ops behind the canonical (NCHW) Pad, Reduce* and dilated MaxPool2d,
shared by the TensorFlow/Keras and Sonnet backends (each wraps them in its own layer).

* `pad_image`: ``tf.pad`` for "constant" (ONNX Pad) and "reflect" (``MirrorPad``
  REFLECT, PyTorch's ReflectionPad2d: the edge pixel not repeated; ONNX Pad reflect);
  "edge" (PyTorch's ReplicationPad2d) is a ``tf.gather`` of clamped indices per axis:
  ``tf.pad`` has no replicate mode (SYMMETRIC repeats the edge once, then mirrors on),
  and a gather moves elements only (exact; ONNX Gather).
* `nhwc_axes` / `reduce`: canonical per-sample axes moved to NHWC, ``tf.reduce_*``
  (ONNX ReduceMean/ReduceSum/ReduceMax).
* `dilated_max_pool`: TensorFlow's pooling takes a dilation only with stride 1 (its
  space-to-batch form), so a strided dilated max pool pools at stride 1 and keeps every
  stride-th output: the same maxima over the same taps, exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.common.layers.base import Pads, window_out
from triptych.frameworks.tensorflow.compat import tf
from triptych.frameworks.tensorflow.shared import NHWC_AXIS

#: the spec's reduction layers
REDUCE_LAYERS = (S.ReduceMean, S.ReduceSum, S.ReduceMax)
#: a reduction layer's kind -> the TensorFlow op computing it
REDUCE_OPS = {
    S.ReduceMean.kind: tf.math.reduce_mean,
    S.ReduceSum.kind: tf.math.reduce_sum,
    S.ReduceMax.kind: tf.math.reduce_max,
}


def _clamped(size: int, before: int, after: int) -> np.ndarray:
    """Indices of an axis of ``size`` padded by repeating its edge elements."""
    return np.clip(np.arange(-before, size + after), 0, size - 1).astype(np.int32)


def pad_image(x: Any, pads: Pads, mode: str = "constant", value: float = 0.0) -> Any:
    """NHWC ``x`` padded by ``pads`` (top, left, bottom, right) in the spec's ``mode``
    ("constant" with ``value``, "reflect" or "edge")."""
    top, left, bottom, right = pads
    if not any(pads):
        return x
    if mode == "edge":
        h, w = int(x.shape[1]), int(x.shape[2])
        if top or bottom:
            x = tf.gather(x, _clamped(h, top, bottom), axis=1)
        if left or right:
            x = tf.gather(x, _clamped(w, left, right), axis=2)
        return x
    paddings = [[0, 0], [top, bottom], [left, right], [0, 0]]
    if mode == "reflect":
        return tf.pad(x, paddings, mode="REFLECT")
    return tf.pad(x, paddings, constant_values=tf.constant(value, x.dtype))


def nhwc_axes(axes: tuple[int, ...], rank: int) -> list[int]:
    """Resolved canonical per-sample ``axes`` (0 = C of (C, H, W)) of a rank-``rank``
    per-sample shape as the native tensor's axes (batch 0; NHWC for images)."""
    if rank == 3:
        return sorted(NHWC_AXIS[a + 1] for a in axes)
    return [a + 1 for a in axes]


def reduce(kind: str, x: Any, axes: list[int], keepdims: bool) -> Any:
    """The reduction of layer ``kind`` ("reduce_mean"...) of native ``x`` over native
    ``axes``."""
    return REDUCE_OPS[kind](x, axis=axes, keepdims=keepdims)


def max_pool_pads(layer: S.MaxPool2d, shape: S.Shape) -> Pads:
    """(top, left, bottom, right) -inf padding of PyTorch's max pool on ``shape``: the
    padding each side, plus the rows/columns ``ceil_mode``'s last (dilated) window reaches
    past the padded input."""
    k, s, p, d = layer.kernel, layer.effective_stride, layer.padding, layer.dilation
    span = (k - 1) * d + 1

    def extra(size: int) -> int:
        out = window_out(size, k, s, p, p, d, ceil=layer.ceil_mode)
        return max((out - 1) * s + span - (size + 2 * p), 0)

    return (p, p, p + extra(shape[1]), p + extra(shape[2]))


def dilated_max_pool(x: Any, kernel: int, stride: int, dilation: int, out: tuple[int, int]) -> Any:
    """Max pool of padded NHWC ``x`` (VALID), taps ``dilation`` apart, every ``stride``-th
    window kept, ``out`` (H, W) of them: ``tf.nn.pool`` at stride 1 (dilation needs it),
    then a strided slice."""
    window, rate = (kernel, kernel), (dilation, dilation)
    y = tf.nn.pool(x, window, "MAX", strides=(1, 1), padding="VALID", dilations=rate)
    if stride == 1:
        return y[:, : out[0], : out[1], :]
    return y[:, : (out[0] - 1) * stride + 1 : stride, : (out[1] - 1) * stride + 1 : stride, :]
