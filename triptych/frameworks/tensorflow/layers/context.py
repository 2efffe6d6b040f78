"""What every TensorFlow/Keras layer converter gets and gives: the registries it registers in
(`CONVERTERS`: the Keras layers of a spec layer; `WEIGHT_LAYOUTS`: where its canonical
weights live in them), the `BuildContext` of the layer and the `KerasNode` it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from triptych.common import spec as S
from triptych.common.registry import ConverterRegistry
from triptych.frameworks.tensorflow.compat import keras
from triptych.frameworks.tensorflow.layout import LayerInLayout, ParamMap


@dataclass(frozen=True)
class BuildContext(LayerInLayout):
    """The layer being built (or whose weights move), where the network's layout plan puts
    it (`LayerInLayout`), and the ``dtype`` of the build ("float32" or "float64"), every
    Keras layer's dtype policy."""

    dtype: str = "float32"

    @property
    def kw(self) -> dict[str, Any]:
        """The keyword arguments every Keras layer of this build gets (its dtype policy: a
        Keras layer casts its inputs to it)."""
        return {"dtype": self.dtype}


@dataclass(frozen=True)
class KerasNode:
    """What a converter makes of one spec layer: ``layers`` applied in order (the first takes
    the node's input, or its list of inputs for a merge) and ``holder``, the one of them
    holding the layer's canonical weights (None: the layer has none)."""

    layers: tuple[keras.layers.Layer, ...]
    holder: keras.layers.Layer | None = None

    @classmethod
    def of(cls, *layers: keras.layers.Layer, holder: keras.layers.Layer | None = None) -> KerasNode:
        return cls(tuple(layers), holder)


Converter = Callable[[S.Layer, BuildContext], KerasNode]
#: (spec layer, its weight holder, context) -> canonical name -> native variable
WeightLayout = Callable[[S.Layer, keras.layers.Layer, BuildContext], ParamMap]

#: spec layer class -> the function building its Keras layers
CONVERTERS: ConverterRegistry[Converter] = ConverterRegistry("tensorflow", "layer")
#: spec layer class with weights -> where they live in its holder, and how they convert
WEIGHT_LAYOUTS: ConverterRegistry[WeightLayout] = ConverterRegistry("tensorflow", "weight layout")
