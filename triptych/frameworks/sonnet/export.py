"""Sonnet module -> ONNX with ``tf2onnx.convert.from_function`` and NCHW I/O, the TensorFlow
backend's route: the module (plain TensorFlow) is wrapped in a ``tf.function`` with an
explicit input signature; ``inputs_as_nchw`` / ``outputs_as_nchw`` add the NHWC<->NCHW
transposes inside the graph."""

from __future__ import annotations

import onnx
import tf2onnx

from triptych.frameworks.sonnet.build import SonnetBuilt
from triptych.frameworks.sonnet.compat import snt, tf
from triptych.frameworks.tensorflow.shared import nhwc_shape

EXPORTERS = ("tf2onnx",)


def export_network(
    built: SonnetBuilt, opset: int, exporter: str | None = None
) -> tuple[onnx.ModelProto, str]:
    """The network in inference mode as ONNX with NCHW input and output (batch dynamic);
    the input is float32, or int64 for a network of token ids."""
    if exporter not in (None, *EXPORTERS):
        raise ValueError(f"unknown sonnet exporter {exporter!r}; allowed: tf2onnx")
    net = built.native
    shape = built.network.input_shape
    ids = built.network.input_dtype == "int64"  # token ids: an int64 ONNX input
    in_dtype = tf.int64 if ids else tf.float32
    signature = [tf.TensorSpec([None, *nhwc_shape(shape)], in_dtype, name="input")]
    fn = tf.function(lambda x: {"output": net(x, is_training=False)})
    proto, _ = tf2onnx.convert.from_function(
        fn,
        input_signature=signature,
        opset=opset,
        inputs_as_nchw=["input:0"] if len(shape) == 3 else None,
        outputs_as_nchw=["output"] if len(built.network.output_shape) == 3 else None,
    )
    origin = f"tf2onnx.convert.from_function {tf2onnx.__version__} (sonnet {snt.__version__}"
    return proto, f"{origin}, tf {tf.__version__})"
