"""Upsample by an integer scale: nearest (each pixel repeated) or bilinear with half-pixel
centres (PyTorch's ``align_corners=False``) as Y = A_h · X · A_wᵀ, the interpolation
matrices made at build time from PyTorch's source-index rule (source = (dst + 0.5) / scale
- 0.5, clamped at 0; the two neighbours weighted by distance)."""

from __future__ import annotations

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.jax.compat import jnp
from triptych.frameworks.jax.layers.context import (
    CONVERTERS,
    BuildContext,
    Node,
    unary,
)


def bilinear_matrix(n: int, scale: int) -> np.ndarray:
    """(n · scale, n): row i interpolates output i from the input along one axis."""
    m = np.zeros((n * scale, n))
    for i in range(n * scale):
        src = max((i + 0.5) / scale - 0.5, 0.0)
        lo = min(int(np.floor(src)), n - 1)
        hi = min(lo + 1, n - 1)
        frac = src - lo
        m[i, lo] += 1.0 - frac
        m[i, hi] += frac
    return m


@CONVERTERS.register(S.Upsample)
def upsample(layer: S.Upsample, ctx: BuildContext) -> Node:
    s = int(layer.scale)
    if layer.mode == "nearest":
        return unary(lambda x: jnp.repeat(jnp.repeat(x, s, axis=2), s, axis=3))
    _, h, w = ctx.input_shape
    ah, aw = ctx.const(bilinear_matrix(h, s)), ctx.const(bilinear_matrix(w, s))
    return unary(lambda x: jnp.matmul(jnp.matmul(ah, x), aw.T))
