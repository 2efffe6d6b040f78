"""Bilinear image resize in numpy (no scipy/PIL): two small interpolation matrices."""

from __future__ import annotations

import numpy as np


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of 1-D linear interpolation with half-pixel centres.

    Output pixel i samples input coordinate (i + 0.5) * n_in / n_out - 0.5, clamped to
    [0, n_in - 1] (edge pixels repeat), as PIL, OpenCV and torch ``align_corners=False`` do
    when upsampling. Each row sums to 1, so the output stays within the input's range.
    """
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0, n_in - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = pos - lo
    w = np.zeros((n_out, n_in))
    np.add.at(w, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(w, (np.arange(n_out), hi), frac)
    return w


def resize_bilinear(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize images (..., H, W) to (..., size[0], size[1]); float32 out (computed in
    float64). Meant for upsampling; downsampling by more than 2x aliases (no low-pass)."""
    h, w = x.shape[-2:]
    rows, cols = bilinear_matrix(h, size[0]), bilinear_matrix(w, size[1])
    out = rows @ x.astype(np.float64) @ cols.T
    return out.astype(np.float32)
