"""What every MXNet layer converter gets: the registries it registers in and the
`BuildContext` of the layer being built (its position, input shape and precision).

Blocks are created inside the network's ``name_scope``, so a converter must create exactly
one top-level block: Gluon numbers the blocks' name prefixes in creation order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from triptych.common import spec as S
from triptych.common.registry import ConverterRegistry
from triptych.frameworks.mxnet.compat import nn


@dataclass(frozen=True)
class BuildContext:
    """The layer being built: ``info`` (its layer, input shape, key and inputs), its
    ``index`` in the network and the ``dtype`` of the build. Parameters are cast after
    building, but a float64 build swaps ops that round float scalar attributes to float32
    (BatchNorm, LeakyReLU, Clip, GELU, ELU, SELU) for exact ones, so those converters read
    it; ChannelAffine makes its constants in it."""

    info: S.LayerInfo
    index: int
    dtype: str = "float32"

    @property
    def input_shape(self) -> S.Shape:
        return self.info.input_shape

    @property
    def exact(self) -> bool:
        """Whether the build needs float64-exact scalars (every build but float32)."""
        return self.dtype != "float32"


Converter = Callable[[S.Layer, BuildContext], nn.HybridBlock]
#: canonical parameter name -> the block's parameter attribute (Gluon's layouts are the
#: canonical ones, so only the names differ)
WeightLayout = Callable[[S.Layer], dict[str, str]]

#: spec layer class -> the function building its Gluon block
CONVERTERS: ConverterRegistry[Converter] = ConverterRegistry("mxnet", "layer")
#: weighted spec layer class -> the function naming its block's parameters
WEIGHT_LAYOUTS: ConverterRegistry[WeightLayout] = ConverterRegistry("mxnet", "weight layout")

#: Dense, Conv2d and ConvTranspose2d: Gluon's parameter names are the canonical ones
PLAIN_WEIGHTS = {"weight": "weight", "bias": "bias"}
