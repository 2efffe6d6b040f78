"""Dense -> ``L.Linear`` (W (out, in): the canonical layout); on (L, C) tokens `TokenLinear`,
the same link applied to each token."""

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


class TokenLinear(L.Linear):
    """``L.Linear`` on (N, L, C): reshaped to (N·L, C) and back with the batch left to -1
    (``n_batch_axes=2`` would reshape to the fixed N·L, which the export would keep)."""

    def forward(self, x: Any) -> Any:  # type: ignore[override]
        length = x.shape[1]
        y = super().forward(F.reshape(x, (-1, x.shape[2])))
        return F.reshape(y, (-1, length, y.shape[1]))


@CONVERTERS.register(S.Dense)
def dense(layer: S.Dense, ctx: BuildContext) -> chainer.Link:
    cls = TokenLinear if len(ctx.input_shape) == 2 else L.Linear
    link = cls(ctx.input_shape[-1], layer.units, nobias=not layer.bias, initialW=ZERO)
    return cast_params(link, ctx.dtype)


@WEIGHT_LAYOUTS.register(S.Dense)
def dense_weights(layer: S.Dense) -> dict[str, str]:
    return PLAIN_WEIGHTS
