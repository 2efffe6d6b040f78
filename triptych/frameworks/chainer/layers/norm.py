"""BatchNorm -> `BatchNormalization` (Chainer's, able to run frozen inside a training step).
Chainer's decay is ``1 - momentum``; its running variance is unbiased, PyTorch's rule."""

from __future__ import annotations

from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.chainer.compat import L, chainer
from triptych.frameworks.chainer.layers.context import (
    CONVERTERS,
    WEIGHT_LAYOUTS,
    BuildContext,
    cast_params,
)

#: canonical name -> Chainer BatchNormalization's attribute
BN_WEIGHTS = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "avg_mean",
    "running_var": "avg_var",
}


class BatchNormalization(L.BatchNormalization):
    """``L.BatchNormalization`` (its name kept) that, while ``frozen`` (set by the training
    step), runs with ``train=False`` inside a training step: running statistics used, not
    updated."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frozen = False

    def forward(self, x: Any, **kwargs: Any) -> Any:
        if self.frozen:
            with chainer.using_config("train", False):
                return super().forward(x, **kwargs)
        return super().forward(x, **kwargs)


@CONVERTERS.register(S.BatchNorm)
def batchnorm(layer: S.BatchNorm, ctx: BuildContext) -> chainer.Link:
    link = BatchNormalization(ctx.input_shape[0], decay=1.0 - layer.momentum, eps=layer.eps)
    if ctx.dtype != np.float32:  # running statistics are not parameters: cast them too
        link.avg_mean = link.avg_mean.astype(ctx.dtype)
        link.avg_var = link.avg_var.astype(ctx.dtype)
    return cast_params(link, ctx.dtype)


@WEIGHT_LAYOUTS.register(S.BatchNorm)
def batchnorm_weights(layer: S.BatchNorm) -> dict[str, str]:
    return BN_WEIGHTS
