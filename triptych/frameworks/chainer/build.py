"""Spec -> one ``chainer.Chain`` (a chain and a graph alike: one node per spec node, run in
topological order); canonical <-> native weights.

Chainer's layouts are PyTorch's (NCHW activations; ``L.Linear`` W (out, in),
``L.Convolution2D`` W OIHW, ``L.Deconvolution2D`` W IOHW), so weights are copied as they are;
only the names differ (W/b; BatchNorm gamma/beta/avg_mean/avg_var). Train or eval mode is
Chainer's ``chainer.config.train`` (`forward` sets it). A frozen BatchNorm runs with
``train=False`` inside a training step (running statistics used, not updated).

A float64 build (the oracle parity bounds come from) casts each link's parameters and
BatchNorm's running statistics to float64 as it is built (Chainer's global
``chainer.config.dtype`` is left alone) and feeds float64 inputs and Dropout masks.

Each layer's node comes from its converter in `triptych.frameworks.chainer.layers` (one
module per layer family), its parameter names from the same module's weight layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.chainer.compat import F, chainer
from triptych.frameworks.chainer.layers import CONVERTERS, WEIGHT_LAYOUTS, BuildContext
from triptych.frameworks.chainer.layers.context import Node
from triptych.frameworks.chainer.layers.dropout import MaskedDropout


class ChainerNet(chainer.Chain):
    """One spec network: ``net(x)`` on an NCHW (or flat) batch, in the mode of
    ``chainer.config.train``. ``nodes`` holds each node's link or function in node order;
    the links (weighted nodes) are child links ``n<index>``, also in ``holders``; ``rng``
    draws Dropout masks where no exact mask is set. ``dtype``: its parameters', inputs' and
    masks' precision (float32 or float64)."""

    def __init__(self, network: S.Network, dtype: str = "float32") -> None:
        super().__init__()
        self.dtype = np.dtype(dtype)
        self.rng = np.random.default_rng(0)
        self.holders: dict[int, chainer.Link] = {}
        nodes: list[Node] = []
        with self.init_scope():
            for i, info in enumerate(network.infos):
                ctx = BuildContext(info, i, self.dtype, self)
                node = CONVERTERS.lookup(info.layer)(info.layer, ctx)
                if isinstance(node, chainer.Link):
                    setattr(self, f"n{i}", node)
                    self.holders[i] = node
                nodes.append(node)
        self.nodes = tuple(nodes)
        self._sources = tuple(info.inputs for info in network.infos)
        self._output = network.output

    def forward(self, x: Any) -> Any:
        outs: list[Any] = []
        for call, sources in zip(self.nodes, self._sources, strict=True):
            outs.append(call(*[x if s == -1 else outs[s] for s in sources]))
        y = outs[self._output]
        # a network that leaves x untouched (eval-mode Dropout only) still returns a
        # Variable made by a function, which the exporter can trace
        return F.identity(y) if y is x or not isinstance(y, chainer.Variable) else y


@dataclass
class ChainerBuilt:
    network: S.Network
    native: ChainerNet
    dtype: str = "float32"

    def params_in_order(self) -> list[chainer.Parameter]:
        """Trainable parameters in node order (weight then bias; BN gamma then beta)."""
        out: list[chainer.Parameter] = []
        for i, holder in self.native.holders.items():
            out += holder_params(self.network.infos[i].layer, holder)
        return out


def holder_params(layer: S.Layer, holder: chainer.Link) -> list[chainer.Parameter]:
    """A weight holder's trainable parameters in canonical order (weight then bias; BN gamma
    then beta: running statistics are not parameters)."""
    values = [getattr(holder, n, None) for n in WEIGHT_LAYOUTS.lookup(layer)(layer).values()]
    return [v for v in values if isinstance(v, chainer.Parameter)]


def build_network(network: S.Network, dtype: str = "float32") -> ChainerBuilt:
    """Build ``network`` as a `ChainerNet` in ``dtype`` (float32 or float64; parameters
    allocated at build time: every link is given its input size)."""
    return ChainerBuilt(network, ChainerNet(network, dtype), dtype)


def _targets(built: ChainerBuilt, i: int) -> dict[str, tuple[Any, str]]:
    """Canonical parameter name -> (object, attribute) of node ``i``."""
    holder, layer = built.native.holders[i], built.network.infos[i].layer
    names = WEIGHT_LAYOUTS.lookup(layer)(layer)
    return {k: (holder, v) for k, v in names.items() if getattr(holder, v, None) is not None}


def set_weights(built: ChainerBuilt, weights: dict[str, np.ndarray]) -> None:
    """Copy canonical tensors (keys ``<network>.<key>.<name>``; all of them or any subset)
    into the links, exactly."""
    name = built.network.name
    for i in built.native.holders:
        key = f"{name}.{built.network.infos[i].key}."
        for canonical, (obj, attr) in _targets(built, i).items():
            value = weights.get(key + canonical)
            if value is None:
                continue
            target = getattr(obj, attr)
            array = target.array if isinstance(target, chainer.Variable) else target
            array[...] = np.asarray(value, built.dtype).reshape(array.shape)


def get_weights(built: ChainerBuilt) -> dict[str, np.ndarray]:
    """Canonical tensors of the network (copies)."""
    name, out = built.network.name, {}
    for i in built.native.holders:
        key = f"{name}.{built.network.infos[i].key}."
        for canonical, (obj, attr) in _targets(built, i).items():
            target = getattr(obj, attr)
            array = target.array if isinstance(target, chainer.Variable) else target
            out[key + canonical] = np.array(array, built.dtype, copy=True)
    return out


def to_input(built: ChainerBuilt, x: np.ndarray) -> np.ndarray:
    """A numpy batch as ``built`` takes it: contiguous, of the build's dtype, or int64 token
    ids for an int64 network."""
    return np.ascontiguousarray(x, S.numpy_input_dtype(built.network, built.dtype))


def forward(built: ChainerBuilt, x: np.ndarray, training: bool = False) -> np.ndarray:
    """Run on NCHW numpy (int64 token ids for an int64 network); training=True uses batch
    statistics and updates running ones."""
    with chainer.using_config("train", training), chainer.no_backprop_mode():
        y = built.native(to_input(built, x))
    return np.asarray(y.array)


def set_dropout_masks(built: ChainerBuilt, masks: dict[int, np.ndarray] | None) -> None:
    """Exact Dropout: the canonical masks (layer index -> (N, *layer.mask_shape(input
    shape)): the input shape, or (1, 1, 1) for StochasticDepth, broadcast) for the next
    train-mode forwards; ``None`` clears them (the network's own generator again)."""
    for i, node in enumerate(built.native.nodes):
        if not isinstance(node, MaskedDropout):  # an attention's, on its probabilities
            node = getattr(node, "prob_dropout", None)
        if isinstance(node, MaskedDropout):
            m = None if masks is None else masks.get(i)
            node.mask = None if m is None else np.ascontiguousarray(m, built.dtype)


def count_params(built: ChainerBuilt) -> int:
    """Trainable parameters as Chainer counts them (``params()``; BatchNorm's running
    statistics are persistent values, not parameters)."""
    return int(sum(p.size for p in built.native.params()))
