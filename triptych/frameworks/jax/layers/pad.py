"""Pad: H and W of an NCHW batch, constant (any value; ``jnp.pad``), reflect or edge (a
gather of rows, then of columns, by index arrays made at build time: one formulation for
both modes, which jax2tf lowers to Gather with a symbolic batch)."""

from __future__ import annotations

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.jax.compat import jnp
from triptych.frameworks.jax.layers.context import CONVERTERS, Array, BuildContext, Node, Run


def source_index(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each padded position along an axis of ``size``, the input position it copies:
    mirrored without the edge pixel (``reflect``) or clamped to the edge (``edge``)."""
    pos = np.arange(-before, size + after)
    if mode == "reflect":
        pos = np.abs(pos)
        pos = np.where(pos >= size, 2 * (size - 1) - pos, pos)
    return np.clip(pos, 0, size - 1).astype(np.int32)


@CONVERTERS.register(S.Pad)
def pad(layer: S.Pad, ctx: BuildContext) -> Node:
    t, left, b, r = layer.pads  # type: ignore[misc]
    _, h, w = ctx.input_shape
    if layer.mode == "constant":
        widths, value = ((0, 0), (0, 0), (t, b), (left, r)), layer.value

        def constant(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
            return jnp.pad(xs[0], widths, constant_values=value)

        return constant
    rows, cols = source_index(h, t, b, layer.mode), source_index(w, left, r, layer.mode)

    def gathered(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        return jnp.take(jnp.take(xs[0], rows, axis=2, mode="clip"), cols, axis=3, mode="clip")

    return gathered
