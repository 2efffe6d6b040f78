"""Spec -> `JaxNet`, a pure function of (parameters, state, input) with its arrays; canonical
<-> native weights (identical layouts and names: a parameter's key is its canonical name
without the network prefix, ``<key>.<param>``, so weights are copied, never converted).

Why no Flax module: the spec already is the module tree (shape inference, names, order),
and a Flax module would add a second naming and layout scheme to map canonical weights
through. A plain function of a flat dict of arrays is what ``jax.jit``, ``jax.grad``, optax
and jax2tf take as they are; Flax is used where it helps (the training state's pytree
container, `train`).

Each node comes from its converter in `triptych.frameworks.jax.layers` (one module per layer
family) and runs in topological order; trainable parameters and BatchNorm's running
statistics are kept apart (``params`` / ``state``) so gradients are taken of the first only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.jax.compat import jax, jnp
from triptych.frameworks.jax.layers import CONVERTERS, BuildContext, Run
from triptych.frameworks.jax.layers.context import Array, Node

Params = dict[str, Array]


@dataclass
class JaxNet:
    """One spec network: ``nodes`` (pure functions, node order), their inputs, the canonical
    local names of each node's ``params`` (trainable) and ``state`` (running statistics),
    the arrays themselves, the exact Dropout ``masks`` set for train-mode forwards and the
    ``key`` its own Dropout masks are drawn from otherwise."""

    network: S.Network
    dtype: np.dtype
    nodes: list[Node]
    param_names: list[list[str]]  # per node: local names of its trainable parameters
    state_names: list[list[str]]  # per node: local names of its running statistics
    params: Params = field(default_factory=dict)
    state: Params = field(default_factory=dict)
    masks: dict[int, Array] | None = None
    key: Array = field(default_factory=lambda: jax.random.PRNGKey(0))
    _compiled: dict[bool, Any] = field(default_factory=dict)

    def apply(self, params: Params, state: Params, x: Array, run: Run) -> tuple[Array, Params]:
        """The network on ``x`` (NCHW batch) with ``params`` and ``state``: (output, the
        state after the forward: running statistics updated in train mode)."""
        outs: list[Array] = []
        merged = {**params, **state}
        for i, node in enumerate(self.nodes):
            mine = {
                n.rsplit(".", 1)[1]: merged[n] for n in self.param_names[i] + self.state_names[i]
            }
            sources = self.network.infos[i].inputs
            outs.append(node(mine, [x if s == -1 else outs[s] for s in sources], run))
        return outs[self.network.output], {**state, **run.updates}

    def forward_fn(self, training: bool) -> Any:
        """``f(params, state, x, masks, key) -> (y, state)`` compiled with ``jax.jit``."""
        if training not in self._compiled:

            def f(params: Params, state: Params, x: Array, masks: Any, key: Array) -> Any:
                return self.apply(params, state, x, Run(training, masks, key))

            self._compiled[training] = jax.jit(f)
        return self._compiled[training]

    def param_order(self) -> list[str]:
        """Trainable parameters in node order (weight then bias): the optimizer's order."""
        return [n for names in self.param_names for n in names]


@dataclass
class JaxBuilt:
    network: S.Network
    native: JaxNet
    dtype: str = "float32"


def build_network(network: S.Network, dtype: str = "float32") -> JaxBuilt:
    """Build ``network`` in ``dtype`` (float32 or float64): its nodes, and zeros for every
    parameter and statistic (canonical weights are loaded after building)."""
    dt = np.dtype(dtype)
    nodes, pnames, snames = [], [], []
    params: Params = {}
    state: Params = {}
    for i, info in enumerate(network.infos):
        nodes.append(CONVERTERS.lookup(info.layer)(info.layer, BuildContext(info, i, dt)))
        shapes = info.layer.param_shapes(info.input_shape)
        buffers = info.layer.buffer_shapes(info.input_shape)
        pnames.append([f"{info.key}.{n}" for n in shapes])
        snames.append([f"{info.key}.{n}" for n in buffers])
        params |= {f"{info.key}.{n}": jnp.zeros(s, dt) for n, s in shapes.items()}
        state |= {f"{info.key}.{n}": jnp.zeros(s, dt) for n, s in buffers.items()}
    net = JaxNet(network, dt, nodes, pnames, snames, params, state)
    return JaxBuilt(network, net, dtype)


def set_weights(built: JaxBuilt, weights: dict[str, np.ndarray]) -> None:
    """Copy canonical tensors (keys ``<network>.<key>.<name>``; all of them or any subset)
    into the network, exactly."""
    prefix = built.network.name + "."
    net = built.native
    for key, value in weights.items():
        local = key[len(prefix) :] if key.startswith(prefix) else key
        target = net.params if local in net.params else net.state if local in net.state else None
        if target is None:
            continue
        array = np.ascontiguousarray(value, built.dtype).reshape(target[local].shape)
        target[local] = jnp.asarray(array)


def get_weights(built: JaxBuilt) -> dict[str, np.ndarray]:
    """Canonical tensors of the network (copies), parameters then running statistics."""
    prefix = built.network.name + "."
    net = built.native
    return {prefix + k: np.array(v, copy=True) for k, v in {**net.params, **net.state}.items()}


def forward(built: JaxBuilt, x: np.ndarray, training: bool = False) -> np.ndarray:
    """Run on NCHW numpy; training=True uses batch statistics and updates the running ones,
    and applies Dropout (the set masks, else masks drawn from the network's key)."""
    net = built.native
    key = net.key
    if training:
        net.key, key = jax.random.split(net.key)
    masks = net.masks if training else None
    x = jnp.asarray(np.asarray(x, S.numpy_input_dtype(built.network, built.dtype)))
    y, state = net.forward_fn(training)(net.params, net.state, x, masks, key)
    if training:
        net.state = dict(state)
    return np.asarray(y)


def set_dropout_masks(built: JaxBuilt, masks: dict[int, np.ndarray] | None) -> None:
    """Exact Dropout: the canonical masks (layer index -> (N, *layer.mask_shape(input
    shape))) for the next train-mode forwards; ``None`` clears them (the network's key
    again)."""
    built.native.masks = (
        None if masks is None else {int(i): jnp.asarray(m, built.dtype) for i, m in masks.items()}
    )


def count_params(built: JaxBuilt) -> int:
    """Trainable parameters (running statistics are state, not parameters)."""
    return int(sum(v.size for v in built.native.params.values()))
