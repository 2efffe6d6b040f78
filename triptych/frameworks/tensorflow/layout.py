"""NCHW (canonical) <-> NHWC (Keras, Sonnet) feature orders around Flatten and Unflatten, and
the canonical <-> native weight correspondence both backends' weight layouts are written in.

Keras runs channels-last. Flattening (H, W, C) gives features in H, W, C order instead of the
canonical C, H, W. Where a Flatten feeds a Dense through feature-wise layers only (activations,
BatchNorm, Dropout), the Dense's input columns (and BatchNorm parameters on the way) are
permuted instead, so Keras flattens NHWC directly (its fast path). Symmetrically, a Dense that
feeds an Unflatten through feature-wise layers gets its output rows permuted, so Keras can
reshape straight to (H, W, C). Any other Flatten/Unflatten transposes explicitly. Which layers
flatten, unflatten or take a permutation is looked up in `PLANNERS` and `PERMUTABLE`.

Weights: each backend's weight layout of a layer (``WEIGHT_LAYOUTS`` in its ``layers``
package) maps canonical names to `NativeParam`s (`dense_params`, `conv_params`,
`vector_params`); `load_params` and `read_params` move values through them, exactly (element
moves only, never arithmetic).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.common.registry import ConverterRegistry


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


#: a layer's part in the plan: (plan, the network's infos, the layer's index) -> None
Planner = Callable[[LayoutPlan, list[S.LayerInfo], int], None]

#: spec layer class -> its part in the plan (Flatten, Unflatten); others take none
PLANNERS: ConverterRegistry[Planner] = ConverterRegistry("the NHWC layout planner", "layer")


def to_keras_dense(
    w: np.ndarray, b: np.ndarray | None, p_in: np.ndarray | None, p_out: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Canonical (out, in) weight -> Keras (in, out) kernel with permuted rows/columns."""
    rows = p_out if p_out is not None else np.arange(w.shape[0])
    cols = p_in if p_in is not None else np.arange(w.shape[1])
    kernel = np.ascontiguousarray(w[np.ix_(rows, cols)].T)
    return kernel, (None if b is None else np.ascontiguousarray(b[rows]))


#: spec layer class -> the weight conversion that applies a feature permutation to it: the
#: layers a Flatten's or an Unflatten's NHWC order can move into
PERMUTABLE: ConverterRegistry[Callable[..., Any]] = ConverterRegistry(
    "the NHWC layout planner", "permutable layer"
)
PERMUTABLE.register(S.Dense)(to_keras_dense)


def _permutable(info: S.LayerInfo) -> bool:
    return type(info.layer) in PERMUTABLE


@PLANNERS.register(S.Flatten)
def _plan_flatten(plan: LayoutPlan, infos: list[S.LayerInfo], i: int) -> None:
    """An image Flatten feeding a Dense through feature-wise layers: flatten NHWC as it is,
    permute the Dense's columns (and the parameters on the way). start=2 (to (C, H·W)
    tokens) is never fast: its Dense acts per channel on the last axis."""
    if len(infos[i].input_shape) != 3 or infos[i].layer.start != 1:
        return
    j = i + 1
    while j < len(infos) and infos[j].layer.featurewise:
        j += 1
    if j < len(infos) and _permutable(infos[j]):
        perm = hwc_order(infos[i].input_shape)
        plan.fast_flatten.add(i)
        for k in range(i + 1, j + 1):
            plan.in_perm[k] = perm


@PLANNERS.register(S.Unflatten)
def _plan_unflatten(plan: LayoutPlan, infos: list[S.LayerInfo], i: int) -> None:
    """An Unflatten fed by a Dense through feature-wise layers: permute the Dense's rows (and
    the parameters on the way), reshape straight to (H, W, C)."""
    j = i - 1
    while j >= 0 and infos[j].layer.featurewise:
        j -= 1
    if j >= 0 and _permutable(infos[j]):
        perm = hwc_order(infos[i].layer.shape)
        plan.fast_unflatten.add(i)
        plan.out_perm[j] = perm
        for k in range(j + 1, i):
            plan.in_perm[k] = perm


def plan_layout(network: S.Network) -> LayoutPlan:
    """Decide which Flatten/Unflatten run as plain NHWC reshapes and the weight permutations."""
    plan, infos = LayoutPlan(), network.infos
    for i, info in enumerate(infos):
        planner = PLANNERS.find(type(info.layer))
        if planner is not None:
            planner(plan, infos, i)
    return plan


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


@dataclass(frozen=True)
class NativeParam:
    """One canonical tensor's native home: the ``variable`` holding it and the two exact
    conversions (canonical -> native value, native -> canonical value)."""

    variable: Any
    to_native: Callable[[np.ndarray], np.ndarray]
    to_canonical: Callable[[np.ndarray], np.ndarray]


#: canonical parameter name (``weight``, ``bias``, ``running_mean``...) -> its native home
ParamMap = dict[str, NativeParam]


def dense_params(
    kernel: Any, bias: Any | None, p_in: np.ndarray | None, p_out: np.ndarray | None
) -> ParamMap:
    """A dense layer's (out, in) weight as an (in, out) ``kernel`` with the plan's column
    (``p_in``) and row (``p_out``) permutations; its bias (None: none) permuted as rows."""
    out = {
        "weight": NativeParam(
            kernel,
            lambda w: to_keras_dense(w, None, p_in, p_out)[0],
            lambda k: from_keras_dense(k, None, p_in, p_out)[0],
        )
    }
    if bias is not None:
        out["bias"] = NativeParam(
            bias, lambda b: permute_vector(b, p_out), lambda b: unpermute_vector(b, p_out)
        )
    return out


def conv_params(kernel: Any, bias: Any | None) -> ParamMap:
    """A convolution's weight (OIHW; a transposed one's IOHW) as an HWIO (resp. (kh, kw,
    out, in)) ``kernel``: the same axis move both ways; its bias (None: none) as it is."""
    out = {
        "weight": NativeParam(
            kernel,
            lambda w: np.ascontiguousarray(w.transpose(2, 3, 1, 0)),
            lambda k: np.ascontiguousarray(k.transpose(3, 2, 0, 1)),
        )
    }
    if bias is not None:
        out["bias"] = NativeParam(bias, lambda b: b, lambda b: b.copy())
    return out


def depthwise_params(kernel: Any, bias: Any | None) -> ParamMap:
    """A depthwise convolution's weight (out, 1, kh, kw), out = in · multiplier with
    output channel c · multiplier + m from input channel c (PyTorch's and TensorFlow's
    order alike), as a (kh, kw, in, multiplier) ``kernel``; its bias as it is."""
    kh, kw, c, m = (int(d) for d in kernel.shape)
    out = {
        "weight": NativeParam(
            kernel,
            lambda w: np.ascontiguousarray(w.reshape(c, m, kh, kw).transpose(2, 3, 0, 1)),
            lambda k: np.ascontiguousarray(k.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw)),
        )
    }
    if bias is not None:
        out["bias"] = NativeParam(bias, lambda b: b, lambda b: b.copy())
    return out


def transposed_as_conv_params(kernel: Any, bias: Any | None, groups: int) -> ParamMap:
    """A transposed convolution's weight (in, out/groups, kh, kw) as the HWIO ``kernel``
    (kh, kw, in/groups, out) of the convolution computing it on the zero-inserted input:
    each group's (in, out) block swapped and the taps flipped. Element moves both ways."""
    kh, kw, per_group, out = (int(d) for d in kernel.shape)
    g, o = groups, out // groups

    def to_native(w: np.ndarray) -> np.ndarray:
        w = w.reshape(g, per_group, o, kh, kw)[..., ::-1, ::-1]
        return np.ascontiguousarray(w.transpose(3, 4, 1, 0, 2).reshape(kh, kw, per_group, out))

    def to_canonical(k: np.ndarray) -> np.ndarray:
        w = k.reshape(kh, kw, per_group, g, o).transpose(3, 2, 4, 0, 1)[..., ::-1, ::-1]
        return np.ascontiguousarray(w.reshape(g * per_group, o, kh, kw))

    out_map = {"weight": NativeParam(kernel, to_native, to_canonical)}
    if bias is not None:
        out_map["bias"] = NativeParam(bias, lambda b: b, lambda b: b.copy())
    return out_map


def shaped_vector_params(variables: dict[str, Any], perm: np.ndarray | None) -> ParamMap:
    """Per-feature vectors (C,) held in variables of another shape with C elements, the
    last axis the feature one (Keras PReLU's (1, 1, C) slopes): reshaped, and permuted
    by the plan's input permutation ``perm`` (None: none)."""
    return {
        name: NativeParam(
            var,
            lambda v, var=var: permute_vector(v, perm).reshape(tuple(var.shape)),
            lambda v: unpermute_vector(v.reshape(-1), perm),
        )
        for name, var in variables.items()
    }


def vector_params(variables: dict[str, Any], perm: np.ndarray | None) -> ParamMap:
    """Per-feature vectors (BatchNorm's), canonical name -> variable, each permuted by the
    plan's input permutation ``perm`` (None: none)."""
    return {
        name: NativeParam(
            var, lambda v: permute_vector(v, perm), lambda v: unpermute_vector(v, perm)
        )
        for name, var in variables.items()
    }


def load_params(params: ParamMap, given: dict[str, np.ndarray], where: str = "") -> None:
    """Assign each of ``given`` (canonical name -> value, any subset of ``params``) to its
    variable, converted; KeyError naming ``where`` for a name the layer does not have."""
    for name, value in given.items():
        if name not in params:
            raise KeyError(f"{where}: no parameter {name!r}; it has {', '.join(params)}")
        params[name].variable.assign(params[name].to_native(value))


def read_params(params: ParamMap, prefix: str) -> dict[str, np.ndarray]:
    """Every parameter of ``params`` as canonical numpy, keyed ``prefix + name``."""
    return {
        prefix + name: p.to_canonical(np.asarray(p.variable.numpy())) for name, p in params.items()
    }


@dataclass(frozen=True)
class LayerInLayout:
    """A layer of a network built NHWC (Keras, Sonnet): ``info`` (its layer, input shape,
    key and inputs), its ``index`` in the network and the network's layout ``plan``, with
    what the plan says about it. Each backend's ``BuildContext`` extends it."""

    info: S.LayerInfo
    index: int
    plan: LayoutPlan

    @property
    def input_shape(self) -> S.Shape:
        """The canonical (NCHW, batch excluded) input shape."""
        return self.info.input_shape

    @property
    def p_in(self) -> np.ndarray | None:
        """The plan's permutation of this layer's input features (None: canonical order)."""
        return self.plan.in_perm.get(self.index)

    @property
    def p_out(self) -> np.ndarray | None:
        """The plan's permutation of this layer's output features (None: canonical order)."""
        return self.plan.out_perm.get(self.index)

    @property
    def fast_flatten(self) -> bool:
        """Whether this Flatten flattens NHWC as it is (its Dense has permuted columns)."""
        return self.index in self.plan.fast_flatten

    @property
    def fast_unflatten(self) -> bool:
        """Whether this Unflatten reshapes straight to (H, W, C) (its Dense has permuted
        rows)."""
        return self.index in self.plan.fast_unflatten
