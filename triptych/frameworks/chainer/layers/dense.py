"""Dense -> ``L.Linear`` (W (out, in): the canonical layout)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.chainer.compat import L, chainer
from triptych.frameworks.chainer.layers.context import (
    CONVERTERS,
    PLAIN_WEIGHTS,
    WEIGHT_LAYOUTS,
    ZERO,
    BuildContext,
    cast_params,
)


@CONVERTERS.register(S.Dense)
def dense(layer: S.Dense, ctx: BuildContext) -> chainer.Link:
    link = L.Linear(ctx.input_shape[0], layer.units, nobias=not layer.bias, initialW=ZERO)
    return cast_params(link, ctx.dtype)


@WEIGHT_LAYOUTS.register(S.Dense)
def dense_weights(layer: S.Dense) -> dict[str, str]:
    return PLAIN_WEIGHTS
