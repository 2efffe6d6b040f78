"""What the TensorFlow and Sonnet backends share. Both run plain TensorFlow channels-last
(NHWC) behind a canonical NCHW interface, so the moves at that boundary are the same:

* batches and shapes: `to_native_input`, `to_canonical_output`, `nhwc_shape`, `NHWC_AXIS`;
* numpy -> a tensor of the build's dtype (`native`) and scalars back in one read-back
  (`to_floats`); an embedding's sparse gradient made dense (`dense_grads`);
* exact-Dropout masks: canonical -> native layout (`native_mask`), one step's ready for
  its graph (`PreparedMasks`);
* the discriminator's loss term (`bce_logits`).

The Sonnet backend takes these (and `layout`, `compat`, `optimizers`, `float64_ops`,
`distributed`) from the TensorFlow backend, never its private names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.tensorflow.compat import tf
from triptych.frameworks.tensorflow.layout import LayoutPlan

#: canonical NCHW axis (batch = 0) -> NHWC axis, for rank-4 tensors
NHWC_AXIS = {1: 3, 2: 1, 3: 2}


class LaidOut(Protocol):
    """A built network of either backend, as far as the layout moves need it."""

    network: S.Network
    plan: LayoutPlan
    #: "float32" or "float64"
    dtype: str


def nhwc_shape(shape: S.Shape) -> S.Shape:
    """A canonical (C, H, W) shape (batch excluded) as (H, W, C); flat shapes unchanged."""
    return (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape


def to_native_input(x: np.ndarray) -> np.ndarray:
    """NCHW -> NHWC (flat inputs unchanged)."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if x.ndim == 4 else x


def to_canonical_output(y: np.ndarray) -> np.ndarray:
    """NHWC -> NCHW (flat outputs unchanged)."""
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2)) if y.ndim == 4 else y


def native(x: np.ndarray | tf.Tensor | None, dtype: str = "float32") -> tf.Tensor | None:
    """A canonical batch as a ``dtype`` tensor in the native layout (a tensor passes as it
    is). A tensor, not the numpy array: a ``tf.function`` takes a tensor argument faster."""
    if x is None or isinstance(x, tf.Tensor):
        return x
    return tf.constant(to_native_input(np.asarray(x, dtype)))


def dense_grads(grads: list[tf.Tensor | tf.IndexedSlices | None]) -> list[tf.Tensor | None]:
    """Gradients as dense tensors: a gather's (an embedding table's) comes as
    ``tf.IndexedSlices``, which the optimizers would apply as a sparse update (only the
    rows looked up: not PyTorch's dense ``nn.Embedding`` gradient under momentum or Adam)."""
    return [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]


def to_floats(values: list[tf.Tensor | float]) -> list[float]:
    """Native scalars (what the steps' ``run`` returns) as Python floats, in one read-back;
    the same numbers ``float(v)`` gives one by one."""
    tensors = values and all(isinstance(v, tf.Tensor) for v in values)
    if tensors and len({v.dtype for v in values}) == 1:
        return [float(v) for v in tf.stack(values).numpy().tolist()]
    return [float(v) for v in values]


def native_mask(built: LaidOut, i: int, mask: np.ndarray) -> np.ndarray:
    """A canonical Dropout mask (NCHW, canonical feature order) of layer ``i`` in the
    native layout (NHWC, the layout plan's feature permutation), in the build's dtype. A
    per-sample mask (StochasticDepth's (N, 1, ..., 1)) broadcasts: nothing to permute. An
    attention's mask (N, heads, L, L) is on its probabilities, canonical in both backends."""
    m = np.asarray(mask, built.dtype)
    if isinstance(built.network.infos[i].layer, S.MultiHeadAttention):
        pass
    elif m.ndim == 4:
        m = m.transpose(0, 2, 3, 1)
    elif (perm := built.plan.in_perm.get(i)) is not None and m.shape[1] == len(perm):
        m = m[:, perm]
    return np.ascontiguousarray(m)


@dataclass(frozen=True)
class PreparedMasks:
    """One step's exact-Dropout masks ready for a supervised step's ``run_masked``:
    ``canonical`` as `triptych.common.dropout` drew them (network -> layer index -> NCHW
    array of the build's dtype), ``tensors`` the same in the native layout (`native_mask`),
    one tensor per Dropout layer of the step's chain, in chain order."""

    canonical: dict[str, dict[int, np.ndarray]]
    tensors: list[tf.Tensor]


def bce_logits(logits: tf.Tensor, label: float) -> tf.Tensor:
    """Mean BCE with logits against a constant ``label`` (1.0 real, 0.0 fake), in the
    logits' dtype."""
    labels = tf.fill(tf.shape(logits), tf.constant(label, logits.dtype))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
