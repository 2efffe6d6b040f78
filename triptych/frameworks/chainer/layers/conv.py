"""Conv2d and ConvTranspose2d -> ``L.Convolution2D`` / ``L.Deconvolution2D`` (W OIHW and
IOHW: the canonical layouts, grouped ones included: (out, in/groups, kh, kw) and (in,
out/groups, k, k)). A rectangular kernel is Chainer's ``ksize=(kh, kw)``. Grouped and
depthwise convolutions (``groups`` = input channels) run on Chainer's own grouped kernels
(``groups=``), dilation on ``dilate=``. Asymmetric padding (``(top, left, bottom, right)``,
or ``"same"`` where the odd pixel falls bottom/right) pads with ``F.pad`` first, then
convolves unpadded (`PaddedConvolution2D`). A transposed convolution's ``output_padding``
is Chainer's ``outsize`` (the extra rows/columns at the bottom/right, as PyTorch's); the
export writes it as ONNX ``output_padding`` (`triptych.frameworks.chainer.export`)."""

from __future__ import annotations

from typing import Any

from triptych.common import spec as S
from triptych.frameworks.chainer.compat import F, L, chainer
from triptych.frameworks.chainer.layers.context import (
    CONVERTERS,
    PLAIN_WEIGHTS,
    WEIGHT_LAYOUTS,
    ZERO,
    BuildContext,
    cast_params,
)


class PaddedConvolution2D(L.Convolution2D):
    """``L.Convolution2D`` (built with pad 0) after an explicit zero padding ``pads``
    (top, left, bottom, right); its parameters are the convolution's own (W, b)."""

    def __init__(self, pads: tuple[int, int, int, int], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        top, left, bottom, right = pads
        self.pad_width = ((0, 0), (0, 0), (top, bottom), (left, right))

    def forward(self, x: Any) -> Any:
        return super().forward(F.pad(x, self.pad_width, "constant"))


@CONVERTERS.register(S.Conv2d)
def conv2d(layer: S.Conv2d, ctx: BuildContext) -> chainer.Link:
    top, left, bottom, right = layer.pads(ctx.input_shape)
    args = (ctx.input_shape[0], layer.out_channels, layer.kernel_hw, layer.stride)
    kwargs: dict[str, Any] = {"nobias": not layer.bias, "initialW": ZERO}
    if layer.groups != 1:
        kwargs["groups"] = layer.groups
    if layer.dilation != 1:
        kwargs["dilate"] = layer.dilation
    if top == bottom and left == right:
        link = L.Convolution2D(*args, (top, left), **kwargs)
    else:
        link = PaddedConvolution2D((top, left, bottom, right), *args, 0, **kwargs)
    return cast_params(link, ctx.dtype)


@CONVERTERS.register(S.ConvTranspose2d)
def conv_transpose2d(layer: S.ConvTranspose2d, ctx: BuildContext) -> chainer.Link:
    kwargs: dict[str, Any] = {"nobias": not layer.bias, "initialW": ZERO}
    if layer.groups != 1:
        kwargs["groups"] = layer.groups
    if layer.output_padding:  # the output size itself: Chainer's outsize
        kwargs["outsize"] = tuple(layer.output_shape(ctx.input_shape)[1:])
    link = L.Deconvolution2D(
        ctx.input_shape[0], layer.out_channels, layer.kernel, layer.stride, layer.padding,
        **kwargs,
    )  # fmt: skip
    return cast_params(link, ctx.dtype)


@WEIGHT_LAYOUTS.register(S.Conv2d, S.ConvTranspose2d)
def conv_weights(layer: S.Conv2d | S.ConvTranspose2d) -> dict[str, str]:
    return PLAIN_WEIGHTS
