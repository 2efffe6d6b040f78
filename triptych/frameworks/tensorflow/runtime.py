"""TensorFlow/Keras runtime facts: version, threads, the RNG behind Dropout, BatchNorm's
estimator. Importing it imports tensorflow with Keras 3 (see `compat`)."""

from __future__ import annotations

import warnings

from triptych.frameworks.tensorflow.compat import keras, tf

#: how BatchNorm tracks running variance: `layers.norm.TorchStyleBatchNorm` follows PyTorch's rule
BN_RUNNING_VAR = "unbiased"
#: exporter to use where export time matters (benchmarks): tf2onnx, the only one
FAST_EXPORTER: str | None = None


def version() -> str:
    return f"{tf.__version__} (keras {keras.__version__})"


def set_threads(n: int) -> None:
    """Intra- and inter-op threads. TensorFlow fixes them at first use: later calls warn."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(n))
        tf.config.threading.set_inter_op_parallelism_threads(int(n))
    except RuntimeError:
        current = tf.config.threading.get_intra_op_parallelism_threads()
        if current != int(n):
            warnings.warn(
                f"TensorFlow already initialised with {current} intra-op "
                f"threads; cannot change to {n} in this process",
                stacklevel=2,
            )


def seed_rng(built: list, seed: int) -> None:
    """Reset the Dropout layers' Keras seed generators to ``[seed, 0]``."""
    for b in built:
        for layer in b.native.layers:
            generator = getattr(layer, "seed_generator", None)
            if generator is not None:
                generator.state.assign([int(seed) % (1 << 31), 0])
