"""What every Sonnet layer converter gets and gives: the registries it registers in
(`CONVERTERS`: the node of a spec layer; `WEIGHT_LAYOUTS`: where its canonical weights live
in the node's module), the `BuildContext` of the layer and the `SonnetNode` it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from triptych.common import spec as S
from triptych.common.registry import ConverterRegistry
from triptych.frameworks.sonnet.compat import snt, tf
from triptych.frameworks.tensorflow.layout import LayerInLayout, ParamMap

#: a node's computation: (its input tensors (NHWC), training) -> its output tensor
Op = Callable[[list[Any], bool], Any]

#: weights are loaded after building: Sonnet's own initialisers would only cost time
ZEROS = snt.initializers.Zeros()


@dataclass(frozen=True)
class BuildContext(LayerInLayout):
    """The layer being built (or whose weights move), where the network's layout plan puts
    it (`LayerInLayout`), ``rng``, the network's generator of Dropout masks, and the
    ``dtype`` of the build ("float32" or "float64": the variables of triptych's own
    modules; Sonnet's take their first input's)."""

    rng: tf.random.Generator
    dtype: str = "float32"

    @property
    def name(self) -> str:
        """The node's module name (``n<index>``: its variables' name scope)."""
        return f"n{self.index}"


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
