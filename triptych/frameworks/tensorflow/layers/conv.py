"""Conv2d -> ``Conv2D`` (HWIO kernel), ConvTranspose2d -> ``Conv2DTranspose`` ((kh, kw, out,
in) kernel). Padding is explicit with ``padding="valid"``: Keras ``"same"`` pads (0, 1) on
even inputs where PyTorch pads (1, 1)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.tensorflow import layout
from triptych.frameworks.tensorflow.compat import keras
from triptych.frameworks.tensorflow.layers.context import (
    CONVERTERS,
    WEIGHT_LAYOUTS,
    BuildContext,
    KerasNode,
)


@CONVERTERS.register(S.Conv2d)
def conv2d(layer: S.Conv2d, ctx: BuildContext) -> KerasNode:
    pad = [keras.layers.ZeroPadding2D(layer.padding, **ctx.kw)] if layer.padding else []
    conv = keras.layers.Conv2D(
        layer.out_channels,
        layer.kernel,
        layer.stride,
        padding="valid",
        use_bias=layer.bias,
        **ctx.kw,
    )
    return KerasNode.of(*pad, conv, holder=conv)


@CONVERTERS.register(S.ConvTranspose2d)
def conv_transpose2d(layer: S.ConvTranspose2d, ctx: BuildContext) -> KerasNode:
    # "valid" gives H·s + max(k - s, 0); crop to PyTorch's (H-1)·s + k - 2p.
    extra = max(layer.stride - layer.kernel, 0)
    crop = ((layer.padding, layer.padding + extra),) * 2
    conv = keras.layers.Conv2DTranspose(
        layer.out_channels,
        layer.kernel,
        layer.stride,
        padding="valid",
        use_bias=layer.bias,
        **ctx.kw,
    )
    if any(crop[0]):
        return KerasNode.of(conv, keras.layers.Cropping2D(crop, **ctx.kw), holder=conv)
    return KerasNode.of(conv, holder=conv)


@WEIGHT_LAYOUTS.register(S.Conv2d, S.ConvTranspose2d)
def conv_weights(
    layer: S.Conv2d | S.ConvTranspose2d, holder: keras.layers.Layer, ctx: BuildContext
) -> layout.ParamMap:
    return layout.conv_params(holder.kernel, holder.bias if layer.bias else None)
