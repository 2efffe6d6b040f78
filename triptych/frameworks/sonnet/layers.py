"""The Sonnet modules triptych needs beyond ``snt.Linear``/``snt.Conv2D``/``snt.Conv2DTranspose``,
and the parameter-free ops of the spec as plain TensorFlow (NHWC); LeakyReLU and bilinear
upsampling through `triptych.frameworks.tensorflow.float64_ops` (exact in float64 builds).

``snt.BatchNorm`` is not used: its moving statistics are ``snt.ExponentialMovingAverage``s,
which debias by the update count (``hidden / (1 - decay**t)``) and track the *biased* batch
variance, so neither a loaded running mean/variance nor PyTorch's update rule can be
expressed with it. `TorchBatchNorm` is a ``snt.Module`` with PyTorch's convention instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.sonnet.compat import snt, tf
from triptych.frameworks.tensorflow import float64_ops

#: canonical NCHW axis (batch = 0) -> NHWC axis, for rank-4 tensors
NHWC_AXIS = {1: 3, 2: 1, 3: 2}

#: a parameter-free node: (input tensors, training) -> output tensor
Op = Callable[[list[Any], bool], Any]


class TorchBatchNorm(snt.Module):
    """BatchNorm over the last axis with PyTorch's convention.

    Training: normalise with the biased batch variance; update ``moving = moving·(1-m) +
    batch·m`` with the *unbiased* batch variance (n/(n-1)×), momentum ``m`` (default 0.1),
    eps (default 1e-5). Inference (or ``frozen``, read when a step traces): the moving
    statistics, not updated. ``scale``/``offset`` are trainable, the moving ones are not.
    ``synchronized`` (data parallel, read when a step traces): the batch sum, sum of
    squares and count are all-reduced over the replicas first, so mean, variance and n are
    the global batch's (as ``snt.distribute.CrossReplicaBatchNorm`` does with its moments).
    Every variable is of ``dtype`` (float32, or float64 for a float64 build).
    """

    def __init__(
        self,
        channels: int,
        momentum: float = 0.1,
        eps: float = 1e-5,
        name: str | None = None,
        dtype: str = "float32",
    ) -> None:
        super().__init__(name=name)
        self.momentum, self.eps = float(momentum), float(eps)
        self.frozen = self.synchronized = False
        ones, zeros = tf.ones([channels], dtype), tf.zeros([channels], dtype)
        self.scale = tf.Variable(ones, name="scale")
        self.offset = tf.Variable(zeros, name="offset")
        self.moving_mean = tf.Variable(zeros, trainable=False, name="moving_mean")
        self.moving_var = tf.Variable(ones, trainable=False, name="moving_var")

    def __call__(self, x: Any, is_training: bool) -> Any:
        if not is_training or self.frozen:
            mean, var = self.moving_mean, self.moving_var
        else:
            axes = list(range(len(x.shape) - 1))
            n = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), x.dtype)
            if self.synchronized:
                sums = [tf.reduce_sum(x, axes), tf.reduce_sum(tf.square(x), axes), n]
                ctx = tf.distribute.get_replica_context()
                total, squares, n = ctx.all_reduce(tf.distribute.ReduceOp.SUM, sums)
                mean = total / n
                var = tf.maximum(squares / n - tf.square(mean), 0.0)
            else:
                mean, var = tf.nn.moments(x, axes)
            unbiased = var * n / tf.maximum(n - 1.0, 1.0)
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * (1.0 - m) + mean * m)
            self.moving_var.assign(self.moving_var * (1.0 - m) + unbiased * m)
        return tf.nn.batch_normalization(x, mean, var, self.offset, self.scale, self.eps)


class MaskedDropout(snt.Module):
    """Inverted Dropout of rate ``p``. In training it multiplies by, in this order of
    precedence: ``mask_input``, a mask tensor of the graph being traced (a statically shaped
    input of the train step, `triptych.frameworks.sonnet.train.SupervisedStep.run_masked`,
    set only while that step traces); with ``exact`` on (`set_dropout_masks`) the mask held
    in a shape-less variable (exact Dropout, `triptych.common.dropout`); otherwise masks
    from ``rng``, the network's ``tf.random.Generator`` (`runtime.seed_rng` reseeds it).
    Both are read when a ``tf.function`` traces. Inference: the identity. The mask variable
    is of ``dtype``, the network's."""

    def __init__(
        self, p: float, rng: tf.random.Generator, name: str | None = None, dtype: str = "float32"
    ) -> None:
        super().__init__(name=name)
        self.p, self.exact = float(p), False
        self.mask_input: Any = None
        self.rng = rng
        self.mask = tf.Variable(
            np.ones((1,), dtype), shape=tf.TensorShape(None), trainable=False, name="mask"
        )

    def __call__(self, x: Any, is_training: bool) -> Any:
        if not is_training or self.p == 0:
            return x
        if self.mask_input is not None:
            return x * tf.stop_gradient(self.mask_input)  # a constant: no gradient built for it
        if self.exact:
            return x * tf.reshape(self.mask, tf.shape(x))
        keep = self.rng.uniform(tf.shape(x)) >= self.p
        return x * tf.cast(keep, x.dtype) / (1.0 - self.p)


def pad_hw(x: Any, p: int, value: float = 0.0) -> Any:
    """Pad H and W of an NHWC tensor by ``p`` on each side with ``value``."""
    return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], constant_values=value) if p else x


def _flatten(shape: S.Shape, fast: bool) -> Op:
    """NHWC -> flat in canonical C, H, W order (or NHWC order where ``fast``: the Dense it
    feeds has permuted columns, `tensorflow.layout`)."""
    n = int(np.prod(shape))
    if len(shape) == 3 and not fast:
        return lambda xs, t: tf.reshape(tf.transpose(xs[0], [0, 3, 1, 2]), [-1, n])
    return lambda xs, t: tf.reshape(xs[0], [-1, n])


def _unflatten(shape: tuple[int, int, int], fast: bool) -> Op:
    c, h, w = shape
    if fast:
        return lambda xs, t: tf.reshape(xs[0], [-1, h, w, c])
    return lambda xs, t: tf.transpose(tf.reshape(xs[0], [-1, c, h, w]), [0, 2, 3, 1])


def _upsample(layer: S.Upsample, shape: S.Shape) -> Op:
    s = int(layer.scale)
    if layer.mode == "nearest":  # as Keras's UpSampling2D: repeat rows, then columns
        return lambda xs, t: tf.repeat(tf.repeat(xs[0], s, axis=1), s, axis=2)
    size = (shape[1] * s, shape[2] * s)  # half-pixel centres: PyTorch's align_corners=False
    return lambda xs, t: float64_ops.resize_bilinear(xs[0], size)


def op_for(layer: S.Layer, shape: S.Shape, fast_flatten: bool, fast_unflatten: bool) -> Op:
    """The parameter-free ``layer`` (input ``shape``, canonical) as a function on NHWC
    tensors. Pools pad explicitly then run VALID (max pads with -inf, average with zeros
    that count, as PyTorch does)."""
    if isinstance(layer, S.ReLU):
        return lambda xs, t: tf.nn.relu(xs[0])
    if isinstance(layer, S.LeakyReLU):
        slope = float(layer.negative_slope)
        return lambda xs, t: float64_ops.leaky_relu(xs[0], slope)
    if isinstance(layer, S.Sigmoid):
        return lambda xs, t: tf.sigmoid(xs[0])
    if isinstance(layer, S.Tanh):
        return lambda xs, t: tf.tanh(xs[0])
    if isinstance(layer, S.Identity):
        return lambda xs, t: tf.identity(xs[0])
    if isinstance(layer, S.Flatten):
        return _flatten(shape, fast_flatten)
    if isinstance(layer, S.Unflatten):
        return _unflatten(layer.shape, fast_unflatten)
    if isinstance(layer, S.MaxPool2d | S.AvgPool2d):
        k, s, p = layer.kernel, layer.effective_stride, layer.padding
        if isinstance(layer, S.MaxPool2d):
            return lambda xs, t: tf.nn.max_pool2d(pad_hw(xs[0], p, -np.inf), k, s, "VALID")
        return lambda xs, t: tf.nn.avg_pool2d(pad_hw(xs[0], p), k, s, "VALID")
    if isinstance(layer, S.GlobalAvgPool):
        # a pool over the whole H x W exports as AveragePool (portable), as in the TF backend
        window, c = (shape[1], shape[2]), shape[0]
        return lambda xs, t: tf.reshape(tf.nn.avg_pool2d(xs[0], window, 1, "VALID"), [-1, c])
    if isinstance(layer, S.Upsample):
        return _upsample(layer, shape)
    if isinstance(layer, S.Add):
        return lambda xs, t: tf.add_n(xs)
    if isinstance(layer, S.Concat):
        axis = NHWC_AXIS[layer.axis] if len(shape) == 3 else layer.axis
        return lambda xs, t: tf.concat(xs, axis=axis)
    raise TypeError(f"sonnet backend cannot build layer {layer!r}")
