"""What every torch layer converter gets: the registry it registers in and the
`BuildContext` of the layer being built (its position, input shape and precision)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from triptych.common import spec as S
from triptych.common.registry import ConverterRegistry


@dataclass(frozen=True)
class BuildContext:
    """The layer being built: ``info`` (its layer, input shape, key and inputs), its
    ``index`` in the network and the ``dtype`` of the build (float32 or float64; modules
    are cast after building, so converters may ignore it)."""

    info: S.LayerInfo
    index: int
    dtype: str = "float32"

    @property
    def input_shape(self) -> S.Shape:
        return self.info.input_shape


Converter = Callable[[S.Layer, BuildContext], nn.Module]

#: spec layer class -> the function building its ``nn.Module``
CONVERTERS: ConverterRegistry[Converter] = ConverterRegistry("torch", "layer")
