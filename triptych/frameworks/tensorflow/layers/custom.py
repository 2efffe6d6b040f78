"""Small Keras layers more than one layer family uses (no converters here)."""

from __future__ import annotations

from typing import Any

import numpy as np

from triptych.frameworks.tensorflow.compat import keras, tf


class ConstantAffine(keras.layers.Layer):
    """``x · scale + offset`` with fixed constants (no weights) broadcasting against the
    input's trailing axes: ``scale`` per channel (channels last), per feature, or per
    output pixel ((H, W, 1)); ``offset`` None adds nothing. The constants are kept in
    float64 and rounded once to the layer's dtype (a float64 build uses them exactly)."""

    def __init__(self, scale: Any, offset: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = np.asarray(scale, np.float64)
        self.offset = None if offset is None else np.asarray(offset, np.float64)

    def call(self, x: Any) -> Any:
        y = x * tf.constant(self.scale, x.dtype)
        return y if self.offset is None else y + tf.constant(self.offset, x.dtype)

    def compute_output_shape(self, shape: Any) -> Any:
        return shape
