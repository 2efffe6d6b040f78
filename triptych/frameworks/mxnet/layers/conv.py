"""Conv2d and ConvTranspose2d -> ``nn.Conv2D`` / the cured `Conv2DTranspose` (OIHW and IOHW:
the canonical layouts); grouped (MXNet's own grouped kernels, ``num_group``), depthwise,
dilated and rectangular (``Convolution``'s (kh, kw) kernel). Asymmetric padding (and "same"
on even sizes) pads first (`PaddedConv2D`)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.mxnet.compat import nn
from triptych.frameworks.mxnet.layers.context import (
    CONVERTERS,
    PLAIN_WEIGHTS,
    WEIGHT_LAYOUTS,
    BuildContext,
)
from triptych.frameworks.mxnet.onednn import Conv2DTranspose


class PaddedConv2D(nn.Conv2D):
    """``nn.Conv2D`` (padding 0) after an explicit zero padding ``pads`` (top, left, bottom,
    right): the asymmetric padding ``Convolution`` has no argument for. The parameters are
    the convolution's own; ``Pad`` exports as an ONNX Pad (pads as an input, opset 11+)."""

    def __init__(self, pads: S.Pads, *args: object, **kwargs: object) -> None:
        super().__init__(*args, padding=0, **kwargs)
        top, left, bottom, right = pads
        self.pad_width = (0, 0, 0, 0, top, bottom, left, right)  # (before, after) per axis

    def _alias(self) -> str:
        return "conv"

    def hybrid_forward(self, F, x, weight, bias=None):  # Gluon passes the namespace as F
        x = F.pad(x, mode="constant", pad_width=self.pad_width, constant_value=0)
        return super().hybrid_forward(F, x, weight, bias)


@CONVERTERS.register(S.Conv2d)
def conv2d(layer: S.Conv2d, ctx: BuildContext) -> nn.HybridBlock:
    top, left, bottom, right = layer.pads(ctx.input_shape)
    args = (layer.out_channels, layer.kernel_hw, layer.stride)
    kwargs = {"in_channels": ctx.input_shape[0], "use_bias": layer.bias}
    if layer.dilation != 1:
        kwargs["dilation"] = layer.dilation
    if layer.groups != 1:
        kwargs["groups"] = layer.groups
    if top == bottom and left == right:
        return nn.Conv2D(*args, (top, left), **kwargs)
    return PaddedConv2D((top, left, bottom, right), *args, **kwargs)


@CONVERTERS.register(S.ConvTranspose2d)
def conv_transpose2d(layer: S.ConvTranspose2d, ctx: BuildContext) -> nn.HybridBlock:
    return Conv2DTranspose(  # oneDNN's reorder failure cured (see onednn.py)
        layer.out_channels,
        layer.kernel,
        layer.stride,
        layer.padding,
        output_padding=layer.output_padding,
        groups=layer.groups,
        in_channels=ctx.input_shape[0],
        use_bias=layer.bias,
    )


@WEIGHT_LAYOUTS.register(S.Conv2d, S.ConvTranspose2d)
def conv_weights(layer: S.Conv2d | S.ConvTranspose2d) -> dict[str, str]:
    return PLAIN_WEIGHTS
