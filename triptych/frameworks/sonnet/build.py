"""Spec -> one ``snt.Module`` running NHWC (a chain and a graph alike: one node per spec node,
run in topological order), each node made by its converter in
`triptych.frameworks.sonnet.layers`; canonical (NCHW, PyTorch layout) <-> Sonnet through each
weighted layer's weight layout there.

Weighted nodes are Sonnet's own modules where it has one: ``snt.Linear`` (w: (in, out)),
``snt.Conv2D`` (w: HWIO), ``snt.DepthwiseConv2D`` (w: (kh, kw, in, multiplier)) and
``snt.Conv2DTranspose`` (w: (kh, kw, out, in)), all ``padding="VALID"`` with the padding
explicit, ``snt.LayerNorm`` and ``snt.Embed``; else triptych's ``snt.Module``s:
`layers.conv.GroupedConv2D`, `layers.conv.TorchConv2DTranspose`, `layers.norm.TorchBatchNorm`,
`layers.norm.ChannelLayerNorm`, `layers.norm.ChannelScale`, `layers.norm.RMSNorm`,
`layers.activation.PReLU` and
the token modules of `layers.attention` (token tensors (N, L, C) run canonical as they are).
Layout at the boundary and the feature permutations around Flatten/Unflatten are the
TensorFlow backend's (`triptych.frameworks.tensorflow.shared`,
`triptych.frameworks.tensorflow.layout`): Sonnet's dense kernel is Keras's (in, out). A
float64 build (``dtype``) creates every variable in float64: Sonnet's modules take their
dtype from the first call's input, triptych's own modules are given it. A network of
token ids (``input_dtype`` "int64") takes its (N, L) ids as an int64 tensor, untouched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.sonnet.compat import snt, tf
from triptych.frameworks.sonnet.layers import CONVERTERS, WEIGHT_LAYOUTS, BuildContext
from triptych.frameworks.sonnet.layers.dropout import MaskedDropout
from triptych.frameworks.tensorflow import layout
from triptych.frameworks.tensorflow.shared import (
    native_mask,
    nhwc_shape,
    to_canonical_output,
    to_native_input,
)


@snt.allow_empty_variables  # a network of parameter-free layers has no trainable variables
class SonnetNet(snt.Module):
    """One spec network as a Sonnet module: ``net(x_nhwc, is_training)``. ``nodes`` holds
    the node modules (None for parameter-free nodes) in topological order; ``rng`` draws
    the Dropout masks when exact Dropout is off. ``dtype``: its variables' (once built)."""

    def __init__(self, network: S.Network, plan: layout.LayoutPlan, dtype: str = "float32") -> None:
        super().__init__(name=re.sub(r"\W|^(?=\d)", "_", network.name))
        self.rng = tf.random.Generator.from_seed(0)
        nodes, calls = [], []
        for i, info in enumerate(network.infos):
            ctx = BuildContext(info, i, plan, self.rng, dtype)
            node = CONVERTERS.lookup(info.layer)(info.layer, ctx)
            nodes.append(node.module)
            calls.append(node.call)
        self.nodes = nodes
        self._calls = tuple(calls)
        self._sources = tuple(info.inputs for info in network.infos)
        self._output = network.output

    def __call__(self, x: Any, is_training: bool = False) -> Any:
        outs: list[Any] = []
        for call, sources in zip(self._calls, self._sources, strict=True):
            outs.append(call([x if s == -1 else outs[s] for s in sources], is_training))
        return outs[self._output]


@dataclass
class SonnetBuilt:
    network: S.Network
    native: SonnetNet
    plan: layout.LayoutPlan
    #: canonical layer index -> its weight-holding module (Linear, Conv, BatchNorm)
    holders: dict[int, snt.Module] = field(default_factory=dict)
    #: canonical layer index -> its MaskedDropout (exact Dropout)
    dropouts: dict[int, MaskedDropout] = field(default_factory=dict)
    #: tf.function per (training, exact Dropout) (eager calls cost ~ms each)
    compiled: dict[tuple[bool, bool], Any] = field(default_factory=dict)
    #: the precision of every variable, input and output ("float32" or "float64")
    dtype: str = "float32"

    def context(self, i: int) -> BuildContext:
        """The `BuildContext` layer ``i`` was built with (its weight layout reads it)."""
        return BuildContext(self.network.infos[i], i, self.plan, self.native.rng, self.dtype)

    @property
    def input_dtype(self) -> str:
        """What a numpy batch becomes on the way in: `dtype`, or "int64" (token ids)."""
        return S.numpy_input_dtype(self.network, self.dtype)

    def params(self, i: int) -> layout.ParamMap:
        """Layer ``i``'s canonical parameters -> their variables in its module (its weight
        layout; ``i`` must be one of `holders`)."""
        layer = self.network.infos[i].layer
        return WEIGHT_LAYOUTS.lookup(layer)(layer, self.holders[i], self.context(i))

    def variables_of(self, i: int) -> list[tf.Variable]:
        """Layer ``i``'s trainable variables in canonical order (weight then bias; BatchNorm
        scale then offset: its moving statistics are not trainable)."""
        return [p.variable for p in self.params(i).values() if p.variable.trainable]

    def variables_in_order(self) -> list[tf.Variable]:
        """Trainable variables in node order (weight then bias; BN scale then offset)."""
        return [v for i in self.holders for v in self.variables_of(i)]


def build_network(network: S.Network, dtype: str = "float32") -> SonnetBuilt:
    """Build ``network`` in ``dtype`` (float32 or float64) as a `SonnetNet` taking NHWC input;
    Sonnet creates its variables (in the input's dtype) on a first (eval-mode) call on one zero
    sample of ``dtype`` (id 0 for an int64 network). Chains get the layout plan (NHWC flatten
    straight into a permuted Dense); graphs transpose around Flatten/Unflatten."""
    plan = layout.plan_layout(network) if network.is_chain else layout.LayoutPlan()
    net = SonnetNet(network, plan, dtype)
    first = tf.zeros((1, *nhwc_shape(network.input_shape)), S.numpy_input_dtype(network, dtype))
    net(first, is_training=False)  # token ids: id 0, in every table
    holders = {
        i: m
        for i, (m, info) in enumerate(zip(net.nodes, network.infos, strict=True))
        if m is not None and type(info.layer) in WEIGHT_LAYOUTS
    }
    dropouts = {i: m for i, m in enumerate(net.nodes) if isinstance(m, MaskedDropout)}
    # an attention's dropout on its probabilities (`layers.attention.SelfAttention`)
    for i, m in enumerate(net.nodes):
        if getattr(m, "prob_dropout", None) is not None:
            dropouts[i] = m.prob_dropout
    return SonnetBuilt(network, net, plan, holders, dropouts, dtype=dtype)


def set_weights(built: SonnetBuilt, weights: dict[str, np.ndarray]) -> None:
    """Load canonical tensors (all of the network, or any subset such as only the BatchNorm
    statistics), converting layouts; values are moved, never recomputed."""
    name = built.network.name
    for i in built.holders:
        key = built.network.infos[i].key
        given = {
            k.rsplit(".", 1)[1]: np.asarray(v, built.dtype)
            for k, v in weights.items()
            if k.startswith(f"{name}.{key}.")
        }
        if given:
            layout.load_params(built.params(i), given, f"{name}.{key}")


def get_weights(built: SonnetBuilt) -> dict[str, np.ndarray]:
    """Canonical tensors back from Sonnet (the exact inverse of `set_weights`)."""
    out: dict[str, np.ndarray] = {}
    for i in built.holders:
        prefix = f"{built.network.name}.{built.network.infos[i].key}."
        out.update(layout.read_params(built.params(i), prefix))
    return out


def forward(built: SonnetBuilt, x: np.ndarray, training: bool = False) -> np.ndarray:
    """Run on NCHW numpy (int64 token ids for an int64 network); training=True uses batch
    statistics and updates moving ones."""
    key = (training, any(d.exact for d in built.dropouts.values()))
    fn = built.compiled.get(key)
    if fn is None:
        net = built.native
        fn = tf.function(lambda t: net(t, is_training=training), reduce_retracing=True)
        built.compiled[key] = fn
    y = fn(to_native_input(np.asarray(x, built.input_dtype)))
    return to_canonical_output(np.asarray(y))


def set_dropout_masks(built: SonnetBuilt, masks: dict[int, np.ndarray] | None) -> None:
    """Exact Dropout: canonical masks (layer index -> (N, *mask shape), NCHW and canonical
    feature order; an attention's (N, heads, L, L) as they are) moved to NHWC and the
    plan's feature permutation, and assigned; ``None`` turns exact Dropout off (the
    network's own generator again)."""
    for i, mod in built.dropouts.items():
        m = None if masks is None else masks.get(i)
        if m is None:
            mod.exact = False
            continue
        mod.mask.assign(native_mask(built, i, m))
        mod.exact = True


def count_params(built: SonnetBuilt) -> int:
    """Trainable parameters as Sonnet counts them (``trainable_variables`` of the module;
    the BatchNorm moving statistics and the Dropout mask are not trainable)."""
    return int(sum(np.prod(v.shape) for v in built.native.trainable_variables))
