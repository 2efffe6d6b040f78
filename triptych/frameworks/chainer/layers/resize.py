"""Upsample -> ``unpooling_2d`` (nearest: window = stride = scale, each pixel repeated) or
``resize_images`` (bilinear, ``align_corners=False``: half-pixel centres, OpenCV's and
PyTorch's rule)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.chainer.compat import F
from triptych.frameworks.chainer.layers.context import CONVERTERS, BuildContext, Call


@CONVERTERS.register(S.Upsample)
def upsample(layer: S.Upsample, ctx: BuildContext) -> Call:
    s = int(layer.scale)
    if layer.mode == "nearest":
        return lambda x: F.unpooling_2d(x, s, s, 0, cover_all=False)
    size = (int(ctx.input_shape[1]) * s, int(ctx.input_shape[2]) * s)
    return lambda x: F.resize_images(x, size, mode="bilinear", align_corners=False)
