"""Conv2d and ConvTranspose2d with ``lax.conv_general_dilated`` on NCHW inputs and the
canonical weights as they are (OIHW; the transposed one's IOHW regrouped and flipped into
the equivalent convolution's OIHW inside the function, so the parameter stays canonical).

Padding is always explicit (top, bottom) x (left, right), so "same", asymmetric and
PyTorch's symmetric paddings are one code path; grouped and depthwise convolutions are
``feature_group_count``; dilation is ``rhs_dilation``."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.jax.compat import jnp, lax
from triptych.frameworks.jax.layers.context import CONVERTERS, Array, BuildContext, Node, Run
from triptych.frameworks.jax.layers.conv64 import tap_conv

NCHW = ("NCHW", "OIHW", "NCHW")


def grouped(x: Array, w: Array, groups: int, portable: bool, **conv: object) -> Array:
    """``lax.conv_general_dilated`` of ``x`` with OIHW ``w`` in ``groups`` groups; in an
    exported forward (``portable``) a grouped, not depthwise, convolution is written as one
    convolution per group and a concatenation (jax2tf lowers no grouped convolution without
    XLA; TensorFlow's depthwise one it does). Float64 goes through `tap_conv` (XLA's CPU
    float64 convolution is unoptimised: see `triptych.frameworks.jax.layers.conv64`)."""
    if x.dtype == jnp.float64 and not portable:
        return tap_conv(x, w, groups, **conv)  # type: ignore[arg-type]
    depthwise = groups == x.shape[1] and w.shape[1] == 1 and w.shape[0] == groups
    if groups == 1 or not portable or depthwise:
        return lax.conv_general_dilated(
            x, w, dimension_numbers=NCHW, feature_group_count=groups, **conv
        )  # fmt: skip
    xs, ws = jnp.split(x, groups, axis=1), jnp.split(w, groups, axis=0)
    ys = [
        lax.conv_general_dilated(a, b, dimension_numbers=NCHW, **conv)
        for a, b in zip(xs, ws, strict=True)
    ]
    return jnp.concatenate(ys, axis=1)


def add_bias(y: Array, p: dict[str, Array]) -> Array:
    """``y`` (N, C, H, W) plus the (C,) ``bias`` of ``p`` when the layer has one."""
    b = p.get("bias")
    return y if b is None else y + b.reshape(1, -1, 1, 1)


@CONVERTERS.register(S.Conv2d)
def conv2d(layer: S.Conv2d, ctx: BuildContext) -> Node:
    t, left, b, r = layer.pads(ctx.input_shape)
    stride, dilation, groups = layer.stride, layer.dilation, layer.groups

    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        y = grouped(
            xs[0],
            p["weight"],
            groups,
            run.portable,
            window_strides=(stride, stride),
            padding=((t, b), (left, r)),
            rhs_dilation=(dilation, dilation),
        )
        return add_bias(y, p)

    return node


def transposed_kernel(w: Array, groups: int) -> Array:
    """A ConvTranspose2d weight (in, out/groups, k, k) as the OIHW kernel (out, in/groups,
    k, k) of the equivalent stride-1 convolution of the dilated input: per group in and out
    swapped, the taps flipped."""
    cin, per_out, kh, kw = w.shape
    w = w.reshape(groups, cin // groups, per_out, kh, kw).transpose(0, 2, 1, 3, 4)
    return jnp.flip(w.reshape(groups * per_out, cin // groups, kh, kw), axis=(2, 3))


def dilate(x: Array, s: int) -> Array:
    """NCHW ``x`` with s - 1 zeros between neighbouring pixels: (H - 1)·s + 1 rows."""
    _, c, h, w = x.shape
    x = jnp.pad(x[:, :, :, None, :, None], ((0, 0), (0, 0), (0, 0), (0, s - 1), (0, 0), (0, s - 1)))
    return x.reshape(-1, c, h * s, w * s)[:, :, : (h - 1) * s + 1, : (w - 1) * s + 1]


@CONVERTERS.register(S.ConvTranspose2d)
def conv_transpose2d(layer: S.ConvTranspose2d, ctx: BuildContext) -> Node:
    """The gradient of a convolution: the input dilated by ``stride``, padded by
    ``kernel - 1 - padding`` (plus ``output_padding`` at the bottom/right), convolved with the
    flipped kernel."""
    k, s, groups = layer.kernel, layer.stride, layer.groups
    lo = k - 1 - layer.padding
    hi = lo + layer.output_padding

    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        x, dilation = xs[0], (s, s)
        if run.portable and s > 1:  # jax2tf lowers lhs_dilation only with SAME/VALID padding
            x, dilation = dilate(x, s), (1, 1)
        y = grouped(
            x,
            transposed_kernel(p["weight"], groups),
            groups,
            run.portable,
            window_strides=(1, 1),
            padding=((lo, hi), (lo, hi)),
            lhs_dilation=dilation,
        )
        return add_bias(y, p)

    return node
