"""Spec -> one ``snt.Module`` running NHWC (a chain and a graph alike: one node per spec node,
run in topological order); canonical (NCHW, PyTorch layout) <-> Sonnet.

Weighted nodes are Sonnet's own modules: ``snt.Linear`` (w: (in, out)), ``snt.Conv2D`` (w:
HWIO) and ``snt.Conv2DTranspose`` (w: (kh, kw, out, in)), all ``padding="VALID"`` with the
padding explicit (``tf.pad`` before a conv; a transposed conv is cropped by p on each side
of its (H-1)·s + k output, PyTorch's size), and `layers.TorchBatchNorm`. Layout at the
boundary and the feature permutations around Flatten/Unflatten are the TensorFlow backend's
(`triptych.frameworks.tensorflow.layout`): Sonnet's dense kernel is Keras's (in, out).
A float64 build (``dtype``) creates every variable in float64: Sonnet's modules take their
dtype from the first call's input, `layers`' modules are given it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.sonnet import layers as L
from triptych.frameworks.sonnet.compat import snt, tf
from triptych.frameworks.tensorflow import layout
from triptych.frameworks.tensorflow.build import to_canonical_output, to_native_input

#: weights are loaded after building: Sonnet's own initialisers would only cost time
_ZEROS = snt.initializers.Zeros()


def _crop(p: int) -> Any:
    return lambda x: x[:, p:-p, p:-p, :] if p else x


def _weighted(
    i: int, info: S.LayerInfo, rng: tf.random.Generator, dtype: str = "float32"
) -> tuple[Any, Any]:
    """(module, call) for a node with weights or state; call(module, xs, training).
    ``dtype``: the variables' of `layers`' modules (Sonnet's take their input's)."""
    layer, shape, name = info.layer, info.input_shape, f"n{i}"
    if isinstance(layer, S.Dense):
        mod = snt.Linear(layer.units, with_bias=layer.bias, w_init=_ZEROS, name=name)
        return mod, lambda xs, t: mod(xs[0])
    if isinstance(layer, S.Conv2d):
        mod = snt.Conv2D(
            layer.out_channels,
            layer.kernel,
            stride=layer.stride,
            padding="VALID",
            with_bias=layer.bias,
            w_init=_ZEROS,
            name=name,
        )
        p = layer.padding
        return mod, lambda xs, t: mod(L.pad_hw(xs[0], p))
    if isinstance(layer, S.ConvTranspose2d):
        k, s = layer.kernel, layer.stride
        out_hw = ((shape[1] - 1) * s + k, (shape[2] - 1) * s + k)
        mod = snt.Conv2DTranspose(
            layer.out_channels,
            k,
            output_shape=out_hw,
            stride=s,
            padding="VALID",
            with_bias=layer.bias,
            w_init=_ZEROS,
            name=name,
        )
        crop = _crop(layer.padding)
        return mod, lambda xs, t: crop(mod(xs[0]))
    if isinstance(layer, S.BatchNorm):
        mod = L.TorchBatchNorm(shape[0], layer.momentum, layer.eps, name=name, dtype=dtype)
        return mod, lambda xs, t: mod(xs[0], t)
    if isinstance(layer, S.Dropout):
        mod = L.MaskedDropout(layer.p, rng, name=name, dtype=dtype)
        return mod, lambda xs, t: mod(xs[0], t)
    return None, None


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
            mod, call = _weighted(i, info, self.rng, dtype)
            if call is None:
                fast_f, fast_u = i in plan.fast_flatten, i in plan.fast_unflatten
                call = L.op_for(info.layer, info.input_shape, fast_f, fast_u)
            nodes.append(mod)
            calls.append(call)
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
    dropouts: dict[int, L.MaskedDropout] = field(default_factory=dict)
    #: tf.function per (training, exact Dropout) (eager calls cost ~ms each)
    compiled: dict[tuple[bool, bool], Any] = field(default_factory=dict)
    #: the precision of every variable, input and output ("float32" or "float64")
    dtype: str = "float32"

    def variables_in_order(self) -> list[tf.Variable]:
        """Trainable variables in node order (weight then bias; BN scale then offset)."""
        out: list[tf.Variable] = []
        for holder in self.holders.values():
            out += holder_variables(holder)
        return out


def holder_variables(holder: snt.Module) -> list[tf.Variable]:
    """A weight holder's trainable variables in a fixed order."""
    if isinstance(holder, L.TorchBatchNorm):
        return [holder.scale, holder.offset]
    return [holder.w, *([holder.b] if hasattr(holder, "b") else [])]


def build_network(network: S.Network, dtype: str = "float32") -> SonnetBuilt:
    """Build ``network`` in ``dtype`` (float32 or float64) as a `SonnetNet` taking NHWC
    input; Sonnet creates its variables (in the input's dtype) on a first (eval-mode) call
    on one zero sample of ``dtype``. Chains get the layout plan (NHWC flatten straight into
    a permuted Dense); graphs transpose around Flatten/Unflatten."""
    plan = layout.plan_layout(network) if network.is_chain else layout.LayoutPlan()
    net = SonnetNet(network, plan, dtype)
    shape = network.input_shape
    nhwc = (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape
    net(tf.zeros((1, *nhwc), dtype), is_training=False)
    holders = {
        i: m
        for i, m in enumerate(net.nodes)
        if m is not None and not isinstance(m, L.MaskedDropout)
    }
    dropouts = {i: m for i, m in enumerate(net.nodes) if isinstance(m, L.MaskedDropout)}
    return SonnetBuilt(network, net, plan, holders, dropouts, dtype=dtype)


def set_weights(built: SonnetBuilt, weights: dict[str, np.ndarray]) -> None:
    """Load canonical tensors (all of the network, or any subset such as only the BatchNorm
    statistics), converting layouts; values are moved, never recomputed."""
    name, plan = built.network.name, built.plan
    for i, holder in built.holders.items():
        info = built.network.infos[i]
        given = {
            k.rsplit(".", 1)[1]: np.asarray(v, built.dtype)
            for k, v in weights.items()
            if k.startswith(f"{name}.{info.key}.")
        }
        if not given:
            continue
        p_in, p_out = plan.in_perm.get(i), plan.out_perm.get(i)
        if isinstance(info.layer, S.Dense):
            if "weight" in given:
                holder.w.assign(layout.to_keras_dense(given["weight"], None, p_in, p_out)[0])
            if "bias" in given:
                holder.b.assign(layout.permute_vector(given["bias"], p_out))
        elif isinstance(info.layer, S.Conv2d | S.ConvTranspose2d):
            if "weight" in given:
                holder.w.assign(np.ascontiguousarray(given["weight"].transpose(2, 3, 1, 0)))
            if "bias" in given:
                holder.b.assign(given["bias"])
        elif isinstance(info.layer, S.BatchNorm):
            targets = {
                "weight": holder.scale,
                "bias": holder.offset,
                "running_mean": holder.moving_mean,
                "running_var": holder.moving_var,
            }
            for key, value in given.items():
                targets[key].assign(layout.permute_vector(value, p_in))


def get_weights(built: SonnetBuilt) -> dict[str, np.ndarray]:
    """Canonical tensors back from Sonnet (the exact inverse of `set_weights`)."""
    name, plan, out = built.network.name, built.plan, {}
    for i, holder in built.holders.items():
        layer, key = built.network.infos[i].layer, f"{name}.{built.network.infos[i].key}."
        if isinstance(layer, S.Dense):
            w, b = layout.from_keras_dense(
                np.asarray(holder.w.numpy()),
                holder.b.numpy() if layer.bias else None,
                plan.in_perm.get(i),
                plan.out_perm.get(i),
            )
            out[key + "weight"] = w
            if b is not None:
                out[key + "bias"] = b
        elif isinstance(layer, S.Conv2d | S.ConvTranspose2d):
            out[key + "weight"] = np.ascontiguousarray(holder.w.numpy().transpose(3, 2, 0, 1))
            if layer.bias:
                out[key + "bias"] = holder.b.numpy().copy()
        elif isinstance(layer, S.BatchNorm):
            p = plan.in_perm.get(i)
            out[key + "weight"] = layout.unpermute_vector(holder.scale.numpy(), p)
            out[key + "bias"] = layout.unpermute_vector(holder.offset.numpy(), p)
            out[key + "running_mean"] = layout.unpermute_vector(holder.moving_mean.numpy(), p)
            out[key + "running_var"] = layout.unpermute_vector(holder.moving_var.numpy(), p)
    return out


def forward(built: SonnetBuilt, x: np.ndarray, training: bool = False) -> np.ndarray:
    """Run on NCHW numpy; training=True uses batch statistics and updates moving ones."""
    key = (training, any(d.exact for d in built.dropouts.values()))
    fn = built.compiled.get(key)
    if fn is None:
        net = built.native
        fn = tf.function(lambda t: net(t, is_training=training), reduce_retracing=True)
        built.compiled[key] = fn
    y = fn(to_native_input(np.asarray(x, built.dtype)))
    return to_canonical_output(np.asarray(y))


def set_dropout_masks(built: SonnetBuilt, masks: dict[int, np.ndarray] | None) -> None:
    """Exact Dropout: canonical masks (layer index -> (N, *input shape), NCHW and canonical
    feature order) moved to NHWC and the plan's feature permutation, and assigned; ``None``
    turns exact Dropout off (the network's own generator again)."""
    for i, mod in built.dropouts.items():
        m = None if masks is None else masks.get(i)
        if m is None:
            mod.exact = False
            continue
        m = np.asarray(m, built.dtype)
        if m.ndim == 4:
            m = m.transpose(0, 2, 3, 1)
        elif (perm := built.plan.in_perm.get(i)) is not None:
            m = m[:, perm]
        mod.mask.assign(np.ascontiguousarray(m))
        mod.exact = True


def count_params(built: SonnetBuilt) -> int:
    """Trainable parameters as Sonnet counts them (``trainable_variables`` of the module;
    the BatchNorm moving statistics and the Dropout mask are not trainable)."""
    return int(sum(np.prod(v.shape) for v in built.native.trainable_variables))
