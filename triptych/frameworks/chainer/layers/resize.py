"""Upsample -> ``unpooling_2d`` (nearest: window = stride = scale, each pixel repeated) or
``resize_images`` (bilinear, ``align_corners=False``: half-pixel centres, OpenCV's and
PyTorch's rule). ``resize_images`` takes float32 only: a float64 build (the parity oracle)
interpolates with the same weights as two matrix products (`bilinear_matrix`)."""

from __future__ import annotations

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.chainer.compat import F
from triptych.frameworks.chainer.layers.context import CONVERTERS, BuildContext, Call


def bilinear_matrix(size: int, scale: int, dtype: np.dtype) -> np.ndarray:
    """(size·scale, size): row i interpolates output position i from the inputs, with
    half-pixel centres (source ``(i + 0.5) / scale - 0.5``, clamped at 0 as PyTorch's
    ``align_corners=False`` does, and at the last input)."""
    out = np.arange(size * scale)
    src = np.maximum((out + 0.5) / scale - 0.5, 0.0)
    lo = np.minimum(np.floor(src).astype(int), size - 1)
    hi = np.minimum(lo + 1, size - 1)
    frac = src - lo
    matrix = np.zeros((size * scale, size), dtype)
    np.add.at(matrix, (out, lo), 1.0 - frac)
    np.add.at(matrix, (out, hi), frac)
    return matrix


def _separable(x, rows: np.ndarray, cols: np.ndarray):  # chainer Variables in and out
    """``rows @ x @ cols.T`` over the last two axes of an (N, C, H, W) variable."""
    n, c, h, w = x.shape
    y = F.matmul(F.reshape(x, (n * c * h, w)), cols.T)  # (N·C·H, W·s)
    y = F.transpose(F.reshape(y, (n * c, h, -1)), (0, 2, 1))  # (N·C, W·s, H)
    y = F.matmul(F.reshape(y, (-1, h)), rows.T)  # (N·C·W·s, H·s)
    return F.transpose(F.reshape(y, (n, c, -1, rows.shape[0])), (0, 1, 3, 2))


@CONVERTERS.register(S.Upsample)
def upsample(layer: S.Upsample, ctx: BuildContext) -> Call:
    s = int(layer.scale)
    if layer.mode == "nearest":
        return lambda x: F.unpooling_2d(x, s, s, 0, cover_all=False)
    h, w = int(ctx.input_shape[1]), int(ctx.input_shape[2])
    if ctx.dtype != np.float32:
        rows, cols = bilinear_matrix(h, s, ctx.dtype), bilinear_matrix(w, s, ctx.dtype)
        return lambda x: _separable(x, rows, cols)
    return lambda x: F.resize_images(x, (h * s, w * s), mode="bilinear", align_corners=False)
