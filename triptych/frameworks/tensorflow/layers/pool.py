"""Max, average and global average pooling. Padding is explicit with ``padding="valid"``:
max-pooling pads with -inf (`ConstantPadding2D`), average pooling with zeros that count, as
PyTorch does."""

from __future__ import annotations

from typing import Any

from keras import ops

from triptych.common import spec as S
from triptych.frameworks.tensorflow.compat import keras
from triptych.frameworks.tensorflow.layers.context import CONVERTERS, BuildContext, KerasNode


class ConstantPadding2D(keras.layers.Layer):
    """Symmetric spatial padding with a constant (-inf before a padded max-pool: PyTorch
    pads max-pooling with -inf, Keras has no such padding layer)."""

    def __init__(self, padding: int, value: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.padding, self.value = int(padding), float(value)

    def call(self, x: Any) -> Any:
        p = self.padding
        return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], constant_values=self.value)

    def compute_output_shape(self, shape: Any) -> Any:
        n, h, w, c = shape
        grow = 2 * self.padding
        return (n, None if h is None else h + grow, None if w is None else w + grow, c)


@CONVERTERS.register(S.MaxPool2d)
def maxpool2d(layer: S.MaxPool2d, ctx: BuildContext) -> KerasNode:
    pad = [ConstantPadding2D(layer.padding, float("-inf"), **ctx.kw)] if layer.padding else []
    pool = keras.layers.MaxPooling2D(
        layer.kernel, layer.effective_stride, padding="valid", **ctx.kw
    )
    return KerasNode.of(*pad, pool)


@CONVERTERS.register(S.AvgPool2d)
def avgpool2d(layer: S.AvgPool2d, ctx: BuildContext) -> KerasNode:
    pad = [keras.layers.ZeroPadding2D(layer.padding, **ctx.kw)] if layer.padding else []
    pool = keras.layers.AveragePooling2D(
        layer.kernel, layer.effective_stride, padding="valid", **ctx.kw
    )
    return KerasNode.of(*pad, pool)


@CONVERTERS.register(S.GlobalAvgPool)
def global_avgpool(layer: S.GlobalAvgPool, ctx: BuildContext) -> KerasNode:
    # an average pool over the whole H x W exports as AveragePool (portable), where
    # GlobalAveragePooling2D becomes an opset-18 ReduceMean that onnx2torch cannot take
    shape = ctx.input_shape
    return KerasNode.of(
        keras.layers.AveragePooling2D((shape[1], shape[2]), **ctx.kw),
        keras.layers.Flatten(**ctx.kw),
    )
