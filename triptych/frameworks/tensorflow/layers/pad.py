"""Pad -> `ImagePad2D` (constant, reflect and edge padding of NHWC input,
`spatial_ops.pad_image`: Keras's ``ZeroPadding2D`` pads zeros only)."""

from __future__ import annotations

from typing import Any

from triptych.common import spec as S
from triptych.common.layers.base import Pads
from triptych.frameworks.tensorflow.compat import keras
from triptych.frameworks.tensorflow.layers.context import CONVERTERS, BuildContext, KerasNode
from triptych.frameworks.tensorflow.spatial_ops import pad_image


class ImagePad2D(keras.layers.Layer):
    """H and W of NHWC input padded by ``pads`` (top, left, bottom, right) in ``mode``
    ("constant" with ``value``, "reflect" or "edge")."""

    def __init__(self, pads: Pads, mode: str, value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pads = tuple(int(p) for p in pads)
        self.mode, self.value = mode, float(value)

    def call(self, x: Any) -> Any:
        return pad_image(x, self.pads, self.mode, self.value)

    def compute_output_shape(self, shape: Any) -> Any:
        n, h, w, c = shape
        t, left, b, r = self.pads
        return (n, None if h is None else h + t + b, None if w is None else w + left + r, c)


@CONVERTERS.register(S.Pad)
def pad(layer: S.Pad, ctx: BuildContext) -> KerasNode:
    return KerasNode.of(ImagePad2D(layer.pads, layer.mode, layer.value, **ctx.kw))
