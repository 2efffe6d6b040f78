"""Pad -> ``F.pad`` (mode ``"constant"``) or a gather (``"reflect"``, ``"edge"``).

Chainer's ``F.pad`` runs ``numpy.pad`` forward, whose ``reflect`` (mirror without repeating
the edge pixel) and ``edge`` are PyTorch's ReflectionPad2d and ReplicationPad2d, but its
backward only slices the centre out of the output's gradient: the gradient the mirrored or
replicated border pixels carry back to their sources is dropped (right for ``constant``
only). So those two modes gather instead: ``F.get_item`` with the row (then column) index
map ``numpy.pad(arange(n), pads, mode)``, the same values as ``numpy.pad``, whose backward
scatter-adds every copy's gradient (exact). It exports as ONNX ``Gather`` (a constant
index), ``constant`` as ONNX ``Pad``."""

from __future__ import annotations

from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.chainer.compat import F
from triptych.frameworks.chainer.layers.context import CONVERTERS, BuildContext, Call


def _index_map(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """Source index of each padded position along an axis of ``size`` (numpy's mode)."""
    return np.pad(np.arange(size, dtype=np.int64), (before, after), mode=mode)


@CONVERTERS.register(S.Pad)
def pad(layer: S.Pad, ctx: BuildContext) -> Call:
    top, left, bottom, right = layer.pads  # type: ignore[misc]
    if layer.mode == "constant":
        width = ((0, 0), (0, 0), (top, bottom), (left, right))
        # an array value: onnx-chainer's Pad converter reads a float only from one
        value = np.array([layer.value])
        return lambda x: F.pad(x, width, "constant", constant_values=value)
    mode = "reflect" if layer.mode == "reflect" else "edge"
    every = (slice(None), slice(None))
    gathers = []  # one per padded axis (two index arrays at once would pair them up)
    if top or bottom:
        gathers.append((*every, _index_map(ctx.input_shape[1], top, bottom, mode)))
    if left or right:
        gathers.append((*every, slice(None), _index_map(ctx.input_shape[2], left, right, mode)))

    def gather(x: Any) -> Any:
        for index in gathers:
            x = F.get_item(x, index)
        return x

    return gather if gathers else F.identity
