"""What every Sonnet layer converter gets and gives: the registries it registers in
(`CONVERTERS`: the node of a spec layer; `WEIGHT_LAYOUTS`: where its canonical weights live
in the node's module), the `BuildContext` of the layer and the `SonnetNode` it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.common.registry import ConverterRegistry
from triptych.frameworks.sonnet.compat import snt, tf
from triptych.frameworks.tensorflow.layout import LayoutPlan, ParamMap

#: a node's computation: (its input tensors (NHWC), training) -> its output tensor
Op = Callable[[list[Any], bool], Any]

#: weights are loaded after building: Sonnet's own initialisers would only cost time
ZEROS = snt.initializers.Zeros()


@dataclass(frozen=True)
class BuildContext:
    """The layer being built (or whose weights move): ``info`` (its layer, input shape, key
    and inputs), its ``index`` in the network, the network's layout ``plan``
    (`triptych.frameworks.tensorflow.layout`: which Flatten/Unflatten run as plain NHWC
    reshapes, the feature permutations), ``rng``, the network's generator of Dropout masks,
    and the ``dtype`` of the build ("float32" or "float64": the variables of triptych's own
    modules; Sonnet's take their first input's)."""

    info: S.LayerInfo
    index: int
    plan: LayoutPlan
    rng: tf.random.Generator
    dtype: str = "float32"

    @property
    def input_shape(self) -> S.Shape:
        """The canonical (NCHW, batch excluded) input shape."""
        return self.info.input_shape

    @property
    def name(self) -> str:
        """The node's module name (``n<index>``: its variables' name scope)."""
        return f"n{self.index}"

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


@dataclass(frozen=True)
class SonnetNode:
    """What a converter makes of one spec layer: ``call``, its computation on NHWC tensors,
    and ``module``, the ``snt.Module`` holding its weights or state (None: parameter-free,
    ``call`` is plain TensorFlow)."""

    call: Op
    module: snt.Module | None = None


Converter = Callable[[S.Layer, BuildContext], SonnetNode]
#: (spec layer, its module, context) -> canonical name -> native variable
WeightLayout = Callable[[S.Layer, snt.Module, BuildContext], ParamMap]

#: spec layer class -> the function building its node
CONVERTERS: ConverterRegistry[Converter] = ConverterRegistry("sonnet", "layer")
#: spec layer class with weights -> where they live in its module, and how they convert
WEIGHT_LAYOUTS: ConverterRegistry[WeightLayout] = ConverterRegistry("sonnet", "weight layout")
