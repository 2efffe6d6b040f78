"""Dropout -> `MaskedDropout` (exact masks in training parity, Chainer's rule otherwise)."""

from __future__ import annotations

from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.chainer.compat import chainer
from triptych.frameworks.chainer.layers.context import CONVERTERS, BuildContext, NetState


class MaskedDropout:
    """Dropout in train mode (``chainer.config.train``), the identity otherwise: it
    multiplies by ``mask`` when one is set (exact Dropout, `set_dropout_masks`), else by a
    mask drawn from its network's generator by Chainer's rule (keep with probability
    ``1 - p``, scale ``1 / (1 - p)``). Not a link: it holds no parameters."""

    def __init__(self, p: float, net: NetState, dtype: np.dtype) -> None:
        self.p, self.net, self.dtype = p, net, dtype
        self.mask: np.ndarray | None = None

    def __call__(self, x: Any) -> Any:
        p = self.p
        if not chainer.config.train or p == 0:
            return x
        mask = self.mask
        if mask is None:
            keep = self.net.rng.random(x.shape, dtype=np.float32) >= p
            mask = keep.astype(self.dtype) * self.dtype.type(1.0 / (1.0 - p))
        return x * mask


@CONVERTERS.register(S.Dropout)
def dropout(layer: S.Dropout, ctx: BuildContext) -> MaskedDropout:
    return MaskedDropout(layer.p, ctx.net, ctx.dtype)
