"""Dense -> ``nn.Dense`` (weight (out, in): the canonical layout) on the last axis: of (N, F)
features or of each token of (N, L, C) (``flatten=False``)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.mxnet.compat import nn
from triptych.frameworks.mxnet.layers.context import (
    CONVERTERS,
    PLAIN_WEIGHTS,
    WEIGHT_LAYOUTS,
    BuildContext,
)


@CONVERTERS.register(S.Dense)
def dense(layer: S.Dense, ctx: BuildContext) -> nn.HybridBlock:
    return nn.Dense(layer.units, use_bias=layer.bias, flatten=False, in_units=ctx.input_shape[-1])


@WEIGHT_LAYOUTS.register(S.Dense)
def dense_weights(layer: S.Dense) -> dict[str, str]:
    return PLAIN_WEIGHTS
