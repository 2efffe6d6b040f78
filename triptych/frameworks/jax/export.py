"""JAX network -> ONNX through TensorFlow: ``jax2tf.convert`` (graph serialisation,
``native_serialization=False``, with ``enable_xla=False`` so every JAX primitive becomes a
plain TensorFlow op, not an ``Xla*`` op ONNX has no counterpart for), then
``tf2onnx.convert.from_function``, TensorFlow's route (the TensorFlow and Sonnet backends').

Why not jax2onnx: it does not install beside the pinned stack (every jax2onnx release needs
a newer jax and onnx than constraints.txt pins; pip reports the conflict), so the stack's own
tf2onnx is the converter. The batch axis is symbolic (``polymorphic_shapes``); the network
computes in NCHW, so the ONNX file has NCHW input and output as they are. The parameters are
closed over as constants (ONNX initializers); the network runs in eval mode, written in
its portable form (`triptych.frameworks.jax.layers.context.Run.portable`); the converted
graph's kept-dims reductions are written as such (`onnx_cleanup`)."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator

import onnx

from triptych.common import spec as S
from triptych.frameworks.jax.build import JaxBuilt
from triptych.frameworks.jax.compat import jax, jnp
from triptych.frameworks.jax.layers import Run
from triptych.frameworks.jax.onnx_cleanup import keep_reduced_dims

EXPORTERS = ("jax2tf",)


@contextlib.contextmanager
def _without_transpose_pushing() -> Iterator[None]:
    """tf2onnx's graph optimizers without ``optimize_transpose`` while a JAX graph converts.

    jax2tf writes NCHW networks as TensorFlow's NHWC ops between explicit transposes; the
    transpose optimizer would push the token transpose (``Tokens``: (N, C, L) -> (N, L, C))
    through a class token's Concat, leaving a concatenation along axis 2 of channel-first
    tokens that is no longer a ViT's ``cat([class_token, tokens], 1)`` (the importer and
    readers of the file see the layout the network has). Transposes that cancel are removed
    by ``remove_back_to_back`` and by ONNX Runtime's own graph optimizer."""
    from tf2onnx import optimizer

    saved = optimizer._optimizers
    optimizer._optimizers = type(saved)(
        (k, v) for k, v in saved.items() if k != "optimize_transpose"
    )
    try:
        yield
    finally:
        optimizer._optimizers = saved


def export_network(
    built: JaxBuilt, opset: int, exporter: str | None = None
) -> tuple[onnx.ModelProto, str]:
    """The network in inference mode as ONNX (input ``input``, output ``output``, NCHW,
    batch dynamic)."""
    if exporter not in (None, *EXPORTERS):
        raise ValueError(f"unknown jax exporter {exporter!r}; allowed: {', '.join(EXPORTERS)}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import tf2onnx
    from jax.experimental import jax2tf

    net = built.native
    params = {k: jnp.asarray(v, jnp.float32) for k, v in {**net.params, **net.state}.items()}
    trainable = {k: params[k] for k in net.params}
    state = {k: params[k] for k in net.state}

    def fn(x: jax.Array) -> jax.Array:
        return net.apply(trainable, state, x, Run(False, portable=True))[0]

    shape = built.network.input_shape
    dims = ", ".join(str(s) for s in shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = jax2tf.convert(
            fn,
            native_serialization=False,
            enable_xla=False,
            polymorphic_shapes=[f"(batch, {dims})"],
        )
        tf_fn = tf.function(lambda x: {"output": converted(x)}, autograph=False)
        ids = S.numpy_input_dtype(built.network, "float32") == "int64"
        signature = [tf.TensorSpec([None, *shape], tf.int64 if ids else tf.float32, name="input")]
        with _without_transpose_pushing():
            proto, _ = tf2onnx.convert.from_function(tf_fn, input_signature=signature, opset=opset)
    proto = keep_reduced_dims(proto)
    origin = f"jax2tf (jax {jax.__version__}, enable_xla=False) + tf2onnx {tf2onnx.__version__}"
    return proto, f"{origin} (tf {tf.__version__})"
