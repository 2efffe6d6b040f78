"""NCHW (canonical) <-> NHWC (Keras) feature orders around Flatten and Unflatten.

Keras runs channels-last. Flattening (H, W, C) gives features in H, W, C order instead of the
canonical C, H, W. Where a Flatten feeds a Dense through feature-wise layers only (activations,
BatchNorm, Dropout), the Dense's input columns (and BatchNorm parameters on the way) are
permuted instead, so Keras flattens NHWC directly (its fast path). Symmetrically, a Dense that
feeds an Unflatten through feature-wise layers gets its output rows permuted, so Keras can
reshape straight to (H, W, C). Any other Flatten/Unflatten transposes explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from triptych.common import spec as S


def hwc_order(shape: S.Shape) -> np.ndarray:
    """perm with keras_flat[j] = canonical_flat[perm[j]] for a (C, H, W) tensor."""
    c, h, w = shape
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()


@dataclass
class LayoutPlan:
    """Per layer index: input-feature and output-feature permutations, fast reshapes."""

    in_perm: dict[int, np.ndarray] = field(default_factory=dict)
    out_perm: dict[int, np.ndarray] = field(default_factory=dict)
    fast_flatten: set[int] = field(default_factory=set)
    fast_unflatten: set[int] = field(default_factory=set)


def plan_layout(network: S.Network) -> LayoutPlan:
    """Decide which Flatten/Unflatten run as plain NHWC reshapes and the weight permutations."""
    plan, infos = LayoutPlan(), network.infos
    for i, info in enumerate(infos):
        if isinstance(info.layer, S.Flatten) and len(info.input_shape) == 3:
            j = i + 1
            while j < len(infos) and infos[j].layer.featurewise:
                j += 1
            if j < len(infos) and isinstance(infos[j].layer, S.Dense):
                perm = hwc_order(info.input_shape)
                plan.fast_flatten.add(i)
                for k in range(i + 1, j + 1):
                    plan.in_perm[k] = perm
        if isinstance(info.layer, S.Unflatten):
            j = i - 1
            while j >= 0 and infos[j].layer.featurewise:
                j -= 1
            if j >= 0 and isinstance(infos[j].layer, S.Dense):
                perm = hwc_order(info.layer.shape)
                plan.fast_unflatten.add(i)
                plan.out_perm[j] = perm
                for k in range(j + 1, i):
                    plan.in_perm[k] = perm
    return plan


def to_keras_dense(
    w: np.ndarray, b: np.ndarray | None, p_in: np.ndarray | None, p_out: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Canonical (out, in) weight -> Keras (in, out) kernel with permuted rows/columns."""
    rows = p_out if p_out is not None else np.arange(w.shape[0])
    cols = p_in if p_in is not None else np.arange(w.shape[1])
    kernel = np.ascontiguousarray(w[np.ix_(rows, cols)].T)
    return kernel, (None if b is None else np.ascontiguousarray(b[rows]))


def from_keras_dense(
    kernel: np.ndarray, bias: np.ndarray | None, p_in: np.ndarray | None, p_out: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Inverse of `to_keras_dense` (exact: only element moves)."""
    n_in, n_out = kernel.shape
    rows = p_out if p_out is not None else np.arange(n_out)
    cols = p_in if p_in is not None else np.arange(n_in)
    w = np.empty((n_out, n_in), dtype=kernel.dtype)
    w[np.ix_(rows, cols)] = kernel.T
    b = None
    if bias is not None:
        b = np.empty_like(bias)
        b[rows] = bias
    return w, b


def permute_vector(v: np.ndarray, perm: np.ndarray | None) -> np.ndarray:
    return np.ascontiguousarray(v if perm is None else v[perm])


def unpermute_vector(v: np.ndarray, perm: np.ndarray | None) -> np.ndarray:
    if perm is None:
        return v.copy()
    out = np.empty_like(v)
    out[perm] = v
    return out
