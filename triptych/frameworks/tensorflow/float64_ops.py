"""The TensorFlow ops that round through float32 even on float64 tensors, and stand-ins
computed in the input's dtype, for float64 builds (TensorFlow's and Sonnet's).

* ``tf.nn.leaky_relu``: the slope is a float32 op attribute (0.2 becomes 0.20000000298...);
* ``tf.image.resize(..., "bilinear")``: the kernel interpolates (and returns) float32.

(``tf.nn.gelu`` is a third: ``math_ops.cast`` of its Python constants makes float32 ones
first, 1/sqrt(2) becoming 0.70710677..., float64 results 5e-9 off; its erfc has no ONNX
form in tf2onnx either, so every build uses `gelu`, in float32 as well.)

Each function dispatches on the input's dtype: float32 runs TensorFlow's own op exactly as
before; float64 runs the stand-in, PyTorch's formula op for op (``x > 0 ? x : x * slope``;
half-pixel bilinear, ``align_corners=False``, with float64 weights).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from triptych.frameworks.tensorflow.compat import keras, tf


def leaky_relu(x: tf.Tensor, slope: float) -> tf.Tensor:
    """``x`` where positive, else ``x * slope``, the slope in ``x``'s dtype."""
    if x.dtype != tf.float64:
        return tf.nn.leaky_relu(x, alpha=slope)
    return tf.where(x > 0, x, x * slope)


def gelu(x: tf.Tensor, approximate: bool = False) -> tf.Tensor:
    """x · Phi(x) as PyTorch writes it, x/2 · (1 + erf(x/sqrt(2))) (``approximate``: x/2 ·
    (1 + tanh(sqrt(2/pi) · (x + 0.044715 x^3)))), the constants in ``x``'s dtype (Python
    floats: weakly typed), in any dtype; erf and tanh export as ONNX Erf and Tanh."""
    if approximate:
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x * x * x))
        return 0.5 * x * (1.0 + tf.math.tanh(inner))
    return 0.5 * x * (1.0 + tf.math.erf(x * math.sqrt(0.5)))


def _taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """PyTorch's half-pixel source taps along one axis: indices (i0, i1) and their weights
    (l0, l1), float64, for ``n_out`` outputs from ``n_in`` inputs."""
    src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    l1 = src - i0
    return i0, i1, 1.0 - l1, l1


def resize_bilinear(x: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Bilinear resize of NHWC ``x`` to ``size`` (half-pixel centres, PyTorch's
    ``align_corners=False``); float64 input stays float64 throughout."""
    if x.dtype != tf.float64:
        return tf.image.resize(x, size, method="bilinear")
    h0, h1, hl0, hl1 = _taps(int(x.shape[1]), size[0])
    w0, w1, wl0, wl1 = _taps(int(x.shape[2]), size[1])
    wl0 = tf.constant(wl0.reshape(1, 1, -1, 1), x.dtype)
    wl1 = tf.constant(wl1.reshape(1, 1, -1, 1), x.dtype)
    hl0 = tf.constant(hl0.reshape(1, -1, 1, 1), x.dtype)
    hl1 = tf.constant(hl1.reshape(1, -1, 1, 1), x.dtype)

    def along_w(rows: tf.Tensor) -> tf.Tensor:
        return wl0 * tf.gather(rows, w0, axis=2) + wl1 * tf.gather(rows, w1, axis=2)

    return hl0 * along_w(tf.gather(x, h0, axis=1)) + hl1 * along_w(tf.gather(x, h1, axis=1))


class LeakyReLU64(keras.layers.LeakyReLU):
    """Keras LeakyReLU for float64 builds: `leaky_relu` (the slope in float64)."""

    def call(self, inputs: Any) -> Any:
        return leaky_relu(inputs, self.negative_slope)


class BilinearUpSampling64(keras.layers.Layer):
    """Keras UpSampling2D(interpolation="bilinear") for float64 builds: `resize_bilinear`
    by an integer ``scale`` on NHWC input."""

    def __init__(self, scale: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = int(scale)

    def call(self, inputs: Any) -> Any:
        h, w = int(inputs.shape[1]), int(inputs.shape[2])
        return resize_bilinear(inputs, (h * self.scale, w * self.scale))

    def compute_output_shape(self, shape: Any) -> Any:
        n, h, w, c = shape
        return (n, None if h is None else h * self.scale, None if w is None else w * self.scale, c)
