"""Conv2d -> ``snt.Conv2D`` (w: HWIO), ConvTranspose2d -> ``snt.Conv2DTranspose`` (w: (kh,
kw, out, in)), both ``padding="VALID"`` with the padding explicit: ``tf.pad`` before a
convolution; a transposed convolution's (H-1)·s + k output cropped by p on each side
(PyTorch's size)."""

from __future__ import annotations

from typing import Any

from triptych.common import spec as S
from triptych.frameworks.sonnet.compat import snt, tf
from triptych.frameworks.sonnet.layers.context import (
    CONVERTERS,
    WEIGHT_LAYOUTS,
    ZEROS,
    BuildContext,
    SonnetNode,
)
from triptych.frameworks.tensorflow import layout


def pad_hw(x: Any, p: int, value: float = 0.0) -> Any:
    """Pad H and W of an NHWC tensor by ``p`` on each side with ``value`` (default 0)."""
    return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], constant_values=value) if p else x


def crop_hw(x: Any, p: int) -> Any:
    """Crop ``p`` from each side of H and W of an NHWC tensor."""
    return x[:, p:-p, p:-p, :] if p else x


@CONVERTERS.register(S.Conv2d)
def conv2d(layer: S.Conv2d, ctx: BuildContext) -> SonnetNode:
    mod = snt.Conv2D(
        layer.out_channels,
        layer.kernel,
        stride=layer.stride,
        padding="VALID",
        with_bias=layer.bias,
        w_init=ZEROS,
        name=ctx.name,
    )
    p = layer.padding
    return SonnetNode(lambda xs, t: mod(pad_hw(xs[0], p)), mod)


@CONVERTERS.register(S.ConvTranspose2d)
def conv_transpose2d(layer: S.ConvTranspose2d, ctx: BuildContext) -> SonnetNode:
    k, s, shape = layer.kernel, layer.stride, ctx.input_shape
    mod = snt.Conv2DTranspose(
        layer.out_channels,
        k,
        output_shape=((shape[1] - 1) * s + k, (shape[2] - 1) * s + k),
        stride=s,
        padding="VALID",
        with_bias=layer.bias,
        w_init=ZEROS,
        name=ctx.name,
    )
    p = layer.padding
    return SonnetNode(lambda xs, t: crop_hw(mod(xs[0]), p), mod)


@WEIGHT_LAYOUTS.register(S.Conv2d, S.ConvTranspose2d)
def conv_weights(
    layer: S.Conv2d | S.ConvTranspose2d, holder: snt.Module, ctx: BuildContext
) -> layout.ParamMap:
    return layout.conv_params(holder.w, holder.b if layer.bias else None)
