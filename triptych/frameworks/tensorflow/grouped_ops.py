"""Grouped convolutions where TensorFlow has no kernel for them, and the zero insertion a
transposed convolution written as a convolution needs (TensorFlow's and Sonnet's builds).

TensorFlow's own CPU kernels run a grouped ``Conv2D`` forward but neither of its gradients
("Gradients for grouped convolutions are not supported on CPU") nor a grouped
``Conv2DBackpropInput``; oneDNN (on by default on x86, ``TF_ENABLE_ONEDNN_OPTS``) brings
them in float32 only, cuDNN on a GPU. `grouped_kernels` asks the engine once per dtype
(float64 on a CPU: none), and where it has none a grouped convolution runs on the dense
kernel `block_diagonal` assembles from the grouped one: the same products and sums (the
added terms are exact zeros), every gradient the engine's own, the variable the grouped
one (its weight layout unchanged).
"""

from __future__ import annotations

import functools

import numpy as np

from triptych.frameworks.tensorflow.compat import tf


@functools.cache
def grouped_kernels(dtype: str) -> bool:
    """Whether the default device runs a grouped convolution in ``dtype`` forward and both
    ways back (asked once: a 1x1 two-group convolution's two gradients, run eagerly)."""
    one = [1, 1, 1, 1]
    with tf.init_scope():
        x = tf.zeros((1, 1, 1, 2), dtype)
        k = tf.zeros((1, 1, 1, 2), dtype)
        try:
            tf.raw_ops.Conv2DBackpropInput(
                input_sizes=[1, 1, 1, 2], filter=k, out_backprop=x, strides=one, padding="VALID"
            )
            tf.raw_ops.Conv2DBackpropFilter(
                input=x, filter_sizes=[1, 1, 1, 2], out_backprop=x, strides=one, padding="VALID"
            )
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
            return False
    return True


def block_diagonal(kernel: tf.Tensor, groups: int) -> tf.Tensor:
    """A grouped HWIO ``kernel`` (kh, kw, in/groups, out) as the dense (kh, kw, in, out)
    kernel of the same convolution: group g's block at input rows g·in/groups.., output
    columns g·out/groups.., exact zeros elsewhere (a constant 0/1 mask times the kernel
    tiled ``groups`` times, so only the kernel's own entries get a gradient)."""
    per_group, out = (int(d) for d in kernel.shape[2:])
    rows = np.arange(per_group * groups) // per_group
    cols = np.arange(out) // (out // groups)
    mask = tf.constant(rows[:, None] == cols[None, :], dtype=kernel.dtype)
    return tf.tile(kernel, [1, 1, groups, 1]) * mask


def zero_insert(x: tf.Tensor, stride: int) -> tf.Tensor:
    """NHWC ``x`` with ``stride - 1`` zero rows and columns between its pixels ((H-1)·s + 1
    by (W-1)·s + 1): a transposed convolution's input spread out, by reshapes and a pad
    (ops every exporter writes)."""
    if stride == 1:
        return x
    h, w, c = (int(d) for d in x.shape[1:])
    s = stride
    y = tf.reshape(x, [-1, h, 1, w, 1, c])
    y = tf.pad(y, [[0, 0], [0, 0], [0, s - 1], [0, 0], [0, s - 1], [0, 0]])
    y = tf.reshape(y, [-1, h * s, w * s, c])
    return y[:, : (h - 1) * s + 1, : (w - 1) * s + 1, :]
