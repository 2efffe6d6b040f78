"""Convolution of float64 arrays as a sum over kernel taps (strided slices and one
``dot_general``), for the float64 oracle builds.

XLA's CPU backend has no optimised float64 convolution: on this project's 2-core Zen 5 a
16x96x14x14 3x3 convolution took 104 ms forward and 216 ms with its gradient in float64
against 1.9 / 3.9 ms in float32 (depthwise: 103 / 213 ms), which made JAX's float64 oracle
the slowest part of every parity run (MobileNetV2's two training steps: 80 s). Written as
taps the same float64 convolution takes 6-8 ms forward (measured in the same run; results
equal to ``lax.conv_general_dilated`` at HIGHEST precision within 3e-13). Float32 keeps
XLA's convolution: that is the computation a JAX user runs."""

from __future__ import annotations

from triptych.frameworks.jax.compat import jnp, lax
from triptych.frameworks.jax.layers.context import Array


def tap_conv(
    x: Array,
    w: Array,
    groups: int,
    window_strides: tuple[int, int],
    padding: tuple[tuple[int, int], tuple[int, int]],
    rhs_dilation: tuple[int, int] = (1, 1),
    lhs_dilation: tuple[int, int] = (1, 1),
) -> Array:
    """``lax.conv_general_dilated(x, w, NCHW/OIHW, feature_group_count=groups, ...)`` as a
    sum over the kernel's taps: the input dilated and padded by one ``lax.pad`` (negative
    padding crops, as the convolution's does), each tap a strided slice, then one batched
    contraction over (input channel in group, tap)."""
    (top, bottom), (left, right) = padding
    (sh, sw), (dh, dw) = window_strides, rhs_dilation
    zero = jnp.zeros((), x.dtype)
    config = [(0, 0, 0), (0, 0, 0), (top, bottom, lhs_dilation[0] - 1)]
    x = lax.pad(x, zero, [*config, (left, right, lhs_dilation[1] - 1)])
    n, c, h, width = x.shape
    out, per_group, kh, kw = w.shape
    ho = (h - (kh - 1) * dh - 1) // sh + 1
    wo = (width - (kw - 1) * dw - 1) // sw + 1
    taps = [
        lax.slice(
            x,
            (0, 0, i * dh, j * dw),
            (n, c, i * dh + (ho - 1) * sh + 1, j * dw + (wo - 1) * sw + 1),
            (1, 1, sh, sw),
        )
        for i in range(kh)
        for j in range(kw)
    ]
    patches = jnp.stack(taps, axis=2).reshape(n, groups, per_group, kh * kw, ho, wo)
    kernel = w.reshape(groups, out // groups, per_group, kh * kw)
    y = jnp.einsum("ngcthw,goct->ngohw", patches, kernel, precision=lax.Precision.HIGHEST)
    return y.reshape(n, out, ho, wo)
