"""The layer vocabulary of triptych specs (`triptych.common.spec` states the counting rules),
one module per layer family; every backend converts each family in the module of the same
name under ``frameworks/<fw>/layers/``. `LAYER_TYPES` lists every kind."""

from triptych.common.layers.activation import LeakyReLU, ReLU, Sigmoid, Tanh
from triptych.common.layers.base import (
    LAYER_TYPES,
    NAME_PATTERN,
    Input,
    Layer,
    Node,
    Shape,
    SpecError,
    Tensor,
    layer_from_dict,
    numel,
    vocabulary,
)
from triptych.common.layers.conv import Conv2d, ConvTranspose2d
from triptych.common.layers.dense import Dense
from triptych.common.layers.dropout import Dropout
from triptych.common.layers.merge import Add, Concat
from triptych.common.layers.norm import BatchNorm, BatchNorm1d, BatchNorm2d
from triptych.common.layers.pool import AvgPool2d, GlobalAvgPool, MaxPool2d
from triptych.common.layers.reshape import Flatten, Identity, Unflatten
from triptych.common.layers.resize import Upsample

__all__ = [
    "LAYER_TYPES", "NAME_PATTERN", "Add", "AvgPool2d", "BatchNorm", "BatchNorm1d", "BatchNorm2d",
    "Concat",
    "Conv2d", "ConvTranspose2d", "Dense", "Dropout", "Flatten", "GlobalAvgPool", "Identity",
    "Input", "Layer", "LeakyReLU", "MaxPool2d", "Node", "ReLU", "Shape", "Sigmoid",
    "SpecError", "Tanh", "Tensor", "Unflatten", "Upsample", "layer_from_dict", "numel",
    "vocabulary",
]  # fmt: skip
