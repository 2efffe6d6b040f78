"""Spec -> a Keras 3 functional model running NHWC (a chain and a graph alike: one node per
spec node, merges with ``Add``/``Multiply``/.../``Concatenate``), each node's Keras layers
made by its converter in `triptych.frameworks.tensorflow.layers`; canonical (NCHW, PyTorch
layout) <-> Keras through each weighted layer's weight layout there.

Conversions at the boundary: inputs NCHW -> NHWC and outputs back (`shared`; the (N, L) int64 ids of
a token-id network (``input_dtype`` "int64") pass untouched, an int64 input); Conv2d OIHW -> HWIO
(depthwise: (kh, kw, in, multiplier)); ConvTranspose2d IOHW -> (kh, kw, out, in) (grouped: the
flipped HWIO kernel of its convolution form); Dense (out, in) -> (in, out) with the feature
permutations of `layout.plan_layout`. Strided convolutions use explicit ``ZeroPadding2D`` +
``padding="valid"`` (Keras ``"same"`` pads (0, 1) on even inputs, PyTorch pads (1, 1)). Token
tensors (N, L, C) have no NHWC question and run canonical (`token_ops`: Tokens of an NHWC image is a
plain reshape, row-major pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.tensorflow import layout
from triptych.frameworks.tensorflow.compat import keras, tf
from triptych.frameworks.tensorflow.layers import CONVERTERS, WEIGHT_LAYOUTS, BuildContext
from triptych.frameworks.tensorflow.layers.dropout import MaskedDropout
from triptych.frameworks.tensorflow.layers.norm import TorchStyleBatchNorm
from triptych.frameworks.tensorflow.layers.pool import ConstantPadding2D
from triptych.frameworks.tensorflow.shared import (
    NHWC_AXIS,
    native_mask,
    nhwc_shape,
    to_canonical_output,
    to_native_input,
)

__all__ = [
    # the layers' former home: still importable from here
    "NHWC_AXIS",
    "ConstantPadding2D",
    "KerasBuilt",
    "MaskedDropout",
    "TorchStyleBatchNorm",
    "build_network",
    "count_params",
    "forward",
    "get_weights",
    "set_dropout_masks",
    "set_weights",
    "to_canonical_output",
    "to_native_input",
]


@dataclass
class KerasBuilt:
    network: S.Network
    native: keras.Model
    plan: layout.LayoutPlan
    #: canonical layer index -> the Keras layer holding its weights (Dense, Conv, BatchNorm)
    holders: dict[int, keras.layers.Layer] = field(default_factory=dict)
    #: tf.function per (training, exact Dropout) (eager Keras calls cost ~ms each)
    compiled: dict[tuple[bool, bool], Any] = field(default_factory=dict)
    #: canonical layer index -> its MaskedDropout (exact Dropout; an attention's own)
    dropouts: dict[int, MaskedDropout] = field(default_factory=dict)
    #: the precision of every layer, variable, input and output ("float32" or "float64")
    dtype: str = "float32"

    def context(self, i: int) -> BuildContext:
        """The `BuildContext` layer ``i`` was built with (its weight layout reads it)."""
        return BuildContext(self.network.infos[i], i, self.plan, self.dtype)

    @property
    def input_dtype(self) -> str:
        """What a numpy batch becomes on the way in: `dtype`, or "int64" (token ids)."""
        return S.numpy_input_dtype(self.network, self.dtype)


def build_network(network: S.Network, dtype: str = "float32") -> KerasBuilt:
    """Build ``network`` in ``dtype`` (float32 or float64: every layer's dtype policy, the
    global ``floatx`` untouched) as a Keras functional model taking NHWC input. Chains get
    the layout plan (NHWC flatten straight into a permuted Dense); graphs transpose
    explicitly around Flatten/Unflatten."""
    plan = layout.plan_layout(network) if network.is_chain else layout.LayoutPlan()
    in_dtype = S.numpy_input_dtype(network, dtype)  # int64 token ids stay int64
    inp = keras.Input(shape=nhwc_shape(network.input_shape), dtype=in_dtype)
    outs: list[Any] = []
    holders: dict[int, keras.layers.Layer] = {}
    dropouts: dict[int, MaskedDropout] = {}
    for i, info in enumerate(network.infos):
        node = CONVERTERS.lookup(info.layer)(info.layer, BuildContext(info, i, plan, dtype))
        args = [inp if s == -1 else outs[s] for s in info.inputs]
        h = node.layers[0](args if info.layer.merge else args[0])
        for k in node.layers[1:]:
            h = k(h)
        outs.append(h)
        if node.holder is not None:
            holders[i] = node.holder
        dropouts.update((i, k) for k in node.layers if isinstance(k, MaskedDropout))
        # an attention's dropout on its probabilities (`layers.attention.SelfAttention`)
        dropouts.update(
            (i, k.prob_dropout) for k in node.layers if getattr(k, "prob_dropout", None) is not None
        )
    model = keras.Model(inp, outs[network.output], name=f"{network.name}")
    return KerasBuilt(network, model, plan, holders, dropouts=dropouts, dtype=dtype)


def set_weights(built: KerasBuilt, weights: dict[str, np.ndarray]) -> None:
    """Load canonical tensors (all of the network, or any subset such as only the BatchNorm
    statistics), converting layouts; values are moved, never recomputed."""
    name = built.network.name
    for i, holder in built.holders.items():
        info = built.network.infos[i]
        given = {
            k.rsplit(".", 1)[1]: np.asarray(v, built.dtype)
            for k, v in weights.items()
            if k.startswith(f"{name}.{info.key}.")
        }
        if given:
            params = WEIGHT_LAYOUTS.lookup(info.layer)(info.layer, holder, built.context(i))
            layout.load_params(params, given, f"{name}.{info.key}")


def get_weights(built: KerasBuilt) -> dict[str, np.ndarray]:
    """Canonical tensors back from Keras (the exact inverse of `set_weights`)."""
    out: dict[str, np.ndarray] = {}
    for i, holder in built.holders.items():
        info = built.network.infos[i]
        params = WEIGHT_LAYOUTS.lookup(info.layer)(info.layer, holder, built.context(i))
        out.update(layout.read_params(params, f"{built.network.name}.{info.key}."))
    return out


def forward(built: KerasBuilt, x: np.ndarray, training: bool = False) -> np.ndarray:
    """Run on NCHW numpy (int64 token ids for an int64 network); training=True uses batch
    statistics and updates moving ones."""
    key = (training, any(d.exact for d in built.dropouts.values()))
    fn = built.compiled.get(key)
    if fn is None:
        model = built.native
        fn = tf.function(lambda t: model(t, training=training), reduce_retracing=True)
        built.compiled[key] = fn
    y = fn(to_native_input(np.asarray(x, built.input_dtype)))
    return to_canonical_output(np.asarray(y))


def set_dropout_masks(built: KerasBuilt, masks: dict[int, np.ndarray] | None) -> None:
    """Exact Dropout: canonical masks (layer index -> (N, *mask shape), NCHW and canonical
    feature order; an attention's (N, heads, L, L) as they are) moved to Keras's layout
    (NHWC, the plan's feature permutation) and assigned; ``None`` turns exact Dropout off
    (Keras's own RNG again)."""
    for i, layer in built.dropouts.items():
        m = None if masks is None else masks.get(i)
        if m is None:
            object.__setattr__(layer, "exact", False)
            continue
        layer.mask_var.assign(native_mask(built, i, m))
        object.__setattr__(layer, "exact", True)


def count_params(built: KerasBuilt) -> int:
    """Trainable parameters as Keras counts them."""
    return int(sum(np.prod(v.shape) for v in built.native.trainable_weights))
