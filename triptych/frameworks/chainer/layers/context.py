"""What every Chainer layer converter gets: the registries it registers in and the
`BuildContext` of the layer being built (its position, input shape, precision and network).

A converter returns the layer's node: a ``chainer.Link`` for a weighted layer (the network
registers it as child ``n<index>``, a weight holder) or a plain callable for the others."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from triptych.common import spec as S
from triptych.common.registry import ConverterRegistry
from triptych.frameworks.chainer.compat import chainer

#: weights are loaded after building: Chainer's own initialisers would only cost time
ZERO = chainer.initializers.Zero()


class NetState(Protocol):
    """What a node reads off its network when called: ``rng``, the generator drawing
    Dropout masks (`triptych.frameworks.chainer.runtime.seed_rng` replaces it)."""

    rng: np.random.Generator


@dataclass(frozen=True)
class BuildContext:
    """The layer being built: ``info`` (its layer, input shape, key and inputs), its
    ``index`` in the network, the ``dtype`` of the build (links are cast to it, Dropout
    draws masks in it) and ``net``, the network it is built into."""

    info: S.LayerInfo
    index: int
    dtype: np.dtype
    net: NetState

    @property
    def input_shape(self) -> S.Shape:
        return self.info.input_shape


Call = Callable[..., Any]
Node = chainer.Link | Call
Converter = Callable[[S.Layer, BuildContext], Node]
#: canonical parameter name -> the link's attribute (Chainer's layouts are the canonical
#: ones, so only the names differ)
WeightLayout = Callable[[S.Layer], dict[str, str]]

#: spec layer class -> the function building its node
CONVERTERS: ConverterRegistry[Converter] = ConverterRegistry("chainer", "layer")
#: weighted spec layer class -> the function naming its link's parameters
WEIGHT_LAYOUTS: ConverterRegistry[WeightLayout] = ConverterRegistry("chainer", "weight layout")

#: Dense, Conv2d and ConvTranspose2d: W and b
PLAIN_WEIGHTS = {"weight": "W", "bias": "b"}


def cast_params(link: chainer.Link, dtype: np.dtype) -> chainer.Link:
    """``link`` with its parameters in ``dtype``, in place; float32, what Chainer
    allocates, leaves them as they are."""
    if dtype != np.float32:
        for param in link.params():
            param.array = param.array.astype(dtype)
    return link


def constant(array: Any, dtype: np.dtype) -> chainer.Variable:
    """A fixed array (no gradient) in ``dtype``, as a variable the node keeps: held by the
    node, it stays alive through an export's trace, which writes it as an initializer."""
    return chainer.Variable(np.asarray(array, dtype), requires_grad=False)
