"""NHWC adaptive average pooling with unequal windows (H or W not a multiple of the output
size), shared by the TensorFlow/Keras and Sonnet backends: TensorFlow has no adaptive pool,
and one ``avg_pool2d`` cannot take windows of different lengths, so the average is
P_h · X · P_wᵀ with PyTorch's constant pooling matrices (`adaptive_matrix`): two
``tf.matmul`` (ONNX MatMul with constant initializers), exact in the input's dtype."""

from __future__ import annotations

from typing import Any

import numpy as np

from triptych.common.layers.pool import adaptive_matrix
from triptych.frameworks.tensorflow.compat import tf


def adaptive_matrices(shape: tuple[int, ...], size: tuple[int, int]) -> tuple[Any, Any]:
    """((out_h, H), (out_w, W)) float64 pooling matrices for a canonical (C, H, W) input:
    kept in float64, each call rounds them once to the input's dtype."""
    rows = np.asarray(adaptive_matrix(int(shape[1]), size[0]), np.float64)
    cols = np.asarray(adaptive_matrix(int(shape[2]), size[1]), np.float64)
    return rows, cols


def adaptive_avg_pool(x: Any, rows: np.ndarray, cols: np.ndarray) -> Any:
    """(N, H, W, C) -> (N, out_h, out_w, C): rows · X over H (X as (N, H, W·C), ``rows``
    broadcast over N), then cols · Y over W (Y as (N·out_h, W, C)); reshapes only between."""
    (oh, h), (ow, w), c = rows.shape, cols.shape, int(x.shape[3])
    y = tf.matmul(tf.constant(rows, x.dtype), tf.reshape(x, [-1, h, w * c]))  # (N, oh, W·C)
    y = tf.matmul(tf.constant(cols, x.dtype), tf.reshape(y, [-1, w, c]))  # (N·oh, ow, C)
    return tf.reshape(y, [-1, oh, ow, c])
