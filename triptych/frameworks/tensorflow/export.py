"""Keras model -> ONNX with ``tf2onnx.convert.from_function`` and NCHW I/O.

``tf2onnx.convert.from_keras`` fails on Keras 3 (KeyError keras_tensor_N; onnx/tensorflow-onnx
#2329), so the model is wrapped in a ``tf.function`` with an explicit input signature.
``inputs_as_nchw`` / ``outputs_as_nchw`` add the NHWC<->NCHW transposes inside the graph.
"""

from __future__ import annotations

import onnx
import tf2onnx

from triptych.frameworks.tensorflow.build import KerasBuilt
from triptych.frameworks.tensorflow.compat import tf
from triptych.frameworks.tensorflow.shared import nhwc_shape

EXPORTERS = ("tf2onnx",)


def export_network(
    built: KerasBuilt, opset: int, exporter: str | None = None
) -> tuple[onnx.ModelProto, str]:
    """The network in inference mode as ONNX with NCHW input and output (batch dynamic);
    the input is float32, or int64 for a network of token ids."""
    if exporter not in (None, *EXPORTERS):
        raise ValueError(f"unknown tensorflow exporter {exporter!r}; allowed: tf2onnx")
    model = built.native
    shape = built.network.input_shape
    ids = built.network.input_dtype == "int64"  # token ids: an int64 ONNX input
    in_dtype = tf.int64 if ids else tf.float32
    signature = [tf.TensorSpec([None, *nhwc_shape(shape)], in_dtype, name="input")]
    fn = tf.function(lambda x: {"output": model(x, training=False)})
    image_in = len(shape) == 3
    image_out = len(built.network.output_shape) == 3
    proto, _ = tf2onnx.convert.from_function(
        fn,
        input_signature=signature,
        opset=opset,
        inputs_as_nchw=["input:0"] if image_in else None,
        outputs_as_nchw=["output"] if image_out else None,
    )
    return proto, f"tf2onnx.convert.from_function {tf2onnx.__version__} (tf {tf.__version__})"
