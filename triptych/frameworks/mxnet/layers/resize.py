"""Upsample -> MXNet's ``UpSampling`` (nearest) or ``BilinearResize2D`` (bilinear, half-pixel
centres), integer scale."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.mxnet.compat import nn
from triptych.frameworks.mxnet.layers.context import CONVERTERS, BuildContext


@CONVERTERS.register(S.Upsample)
def upsample(layer: S.Upsample, ctx: BuildContext) -> nn.HybridBlock:
    scale = int(layer.scale)
    if layer.mode == "nearest":
        return nn.HybridLambda(
            lambda F, x: F.UpSampling(x, scale=scale, sample_type="nearest", num_args=1)
        )
    h, w = ctx.input_shape[1] * scale, ctx.input_shape[2] * scale
    return nn.HybridLambda(
        lambda F, x: F.contrib.BilinearResize2D(x, height=h, width=w, align_corners=False)
    )
