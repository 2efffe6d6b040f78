"""Dropout -> `MaskedDropout`, StochasticDepth -> `MaskedStochasticDepth` (exact masks in
training parity, the network's generator otherwise)."""

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
            keep = self.net.rng.random(self.mask_shape(x.shape), dtype=np.float32) >= p
            mask = keep.astype(self.dtype) * self.dtype.type(1.0 / (1.0 - p))
        return x * mask

    def mask_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of a drawn mask for an input of ``shape`` (batch first): every element."""
        return shape


@CONVERTERS.register(S.Dropout)
def dropout(layer: S.Dropout, ctx: BuildContext) -> MaskedDropout:
    return MaskedDropout(layer.p, ctx.net, ctx.dtype)


class MaskedStochasticDepth(MaskedDropout):
    """Stochastic depth (torchvision's "row" mode): as `MaskedDropout`, with one keep per
    sample, a (N, 1, ..., 1) mask broadcast over the sample (the set one or a drawn one)."""

    def mask_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (shape[0],) + (1,) * (len(shape) - 1)


@CONVERTERS.register(S.StochasticDepth)
def stochastic_depth(layer: S.StochasticDepth, ctx: BuildContext) -> MaskedStochasticDepth:
    return MaskedStochasticDepth(layer.p, ctx.net, ctx.dtype)
