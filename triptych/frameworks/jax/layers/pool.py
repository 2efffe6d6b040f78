"""Pooling on NCHW batches with ``lax.reduce_window`` after explicit padding.

PyTorch's windows, ``ceil_mode`` included: the input is padded by ``padding`` on every side
plus, with ``ceil_mode``, the overhang of the last window at the bottom/right (`_extra`);
the windows run on the NHWC view (window (1, k, k, 1): what jax2tf lowers to TensorFlow's
pools without XLA), a dilated max pool as the maximum of its k² strided slices.
Max pools pad with -inf. Average pools sum zero-padded windows and divide by a constant
made at build time: the window area counting ``padding`` but not the overhang
(``count_include_pad``, PyTorch's divisor), or the input pixels under each window
(without it). Adaptive pooling is an equal-window mean (a reshape) or, with unequal
windows, P_h · X · P_wᵀ with `adaptive_matrix` constants."""

from __future__ import annotations

import functools

import numpy as np

from triptych.common import spec as S
from triptych.common.layers.pool import adaptive_matrix
from triptych.frameworks.jax.compat import jnp, lax
from triptych.frameworks.jax.layers.context import CONVERTERS, Array, BuildContext, Node, Run


def _extra(size: int, out: int, stride: int, span: int, padding: int) -> int:
    """Rows (columns) to add at the bottom (right) beyond ``padding`` so that ``out``
    windows of ``span`` at ``stride`` fit (ceil_mode's overhang; 0 otherwise)."""
    return max((out - 1) * stride + span - (size + 2 * padding), 0)


def _widths(layer: S.MaxPool2d | S.AvgPool2d, shape: S.Shape) -> tuple[tuple[int, int], ...]:
    """(before, after) padding of the four NCHW axes."""
    _, oh, ow = layer.output_shape(shape)
    span = (layer.kernel - 1) * layer.dilation + 1
    s, p = layer.effective_stride, layer.padding
    eh, ew = _extra(shape[1], oh, s, span, p), _extra(shape[2], ow, s, span, p)
    return ((0, 0), (0, 0), (p, p + eh), (p, p + ew))


@CONVERTERS.register(S.MaxPool2d)
def maxpool2d(layer: S.MaxPool2d, ctx: BuildContext) -> Node:
    widths = _widths(layer, ctx.input_shape)
    k, s, d = layer.kernel, layer.effective_stride, layer.dilation

    _, oh, ow = layer.output_shape(ctx.input_shape)

    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        x = xs[0]
        if any(w != (0, 0) for w in widths):
            x = jnp.pad(x, widths, constant_values=-jnp.inf)
        if d == 1:
            return _nhwc_window(x, -jnp.inf, lax.max, k, s)
        taps = [
            lax.slice_in_dim(
                lax.slice_in_dim(x, i * d, i * d + (oh - 1) * s + 1, s, axis=2),
                j * d,
                j * d + (ow - 1) * s + 1,
                s,
                axis=3,
            )
            for i in range(k)
            for j in range(k)
        ]
        return functools.reduce(jnp.maximum, taps)

    return node


def _nhwc_window(x: Array, init: float, op: object, k: int, s: int) -> Array:
    """``lax.reduce_window`` of k x k windows at stride s over H and W of NCHW ``x``, run
    on its NHWC view."""
    y = lax.reduce_window(x.transpose(0, 2, 3, 1), init, op, (1, k, k, 1), (1, s, s, 1), "VALID")
    return y.transpose(0, 3, 1, 2)


def _window_sums(x: Array, k: int, s: int) -> Array:
    return _nhwc_window(x, 0.0, lax.add, k, s)


@CONVERTERS.register(S.AvgPool2d)
def avgpool2d(layer: S.AvgPool2d, ctx: BuildContext) -> Node:
    shape = ctx.input_shape
    widths = _widths(layer, shape)
    k, s, p = layer.kernel, layer.effective_stride, layer.padding
    # the divisor: ones over the input (and over `padding` when it counts), zeros elsewhere
    ones = np.zeros((1, 1, shape[1] + sum(widths[2]), shape[2] + sum(widths[3])))
    if layer.count_include_pad:
        ones[..., : shape[1] + 2 * p, : shape[2] + 2 * p] = 1.0
    else:
        ones[..., p : p + shape[1], p : p + shape[2]] = 1.0
    windows = np.lib.stride_tricks.sliding_window_view(ones, (k, k), axis=(2, 3))
    divisor = ctx.const(windows[:, :, ::s, ::s].sum(axis=(-1, -2)))

    def node(p_: dict[str, Array], xs: list[Array], run: Run) -> Array:
        x = xs[0]
        if any(w != (0, 0) for w in widths):
            x = jnp.pad(x, widths)
        return _window_sums(x, k, s) / divisor

    return node


@CONVERTERS.register(S.GlobalAvgPool, S.GlobalMaxPool)
def global_pool(layer: S.GlobalAvgPool | S.GlobalMaxPool, ctx: BuildContext) -> Node:
    reduce = jnp.mean if isinstance(layer, S.GlobalAvgPool) else jnp.max
    keep = layer.keepdims

    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        return reduce(xs[0], axis=(2, 3), keepdims=keep)

    return node


@CONVERTERS.register(S.AdaptiveAvgPool2d)
def adaptive_avgpool2d(layer: S.AdaptiveAvgPool2d, ctx: BuildContext) -> Node:
    c, h, w = ctx.input_shape
    oh, ow = layer.size_hw
    if not layer.uneven(ctx.input_shape):

        def even(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
            x = xs[0].reshape(-1, c, oh, h // oh, ow, w // ow)
            return jnp.mean(x, axis=(3, 5))

        return even
    ph, pw = ctx.const(adaptive_matrix(h, oh)), ctx.const(adaptive_matrix(w, ow))

    def uneven(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        return jnp.matmul(jnp.matmul(ph, xs[0]), pw.T)

    return uneven
