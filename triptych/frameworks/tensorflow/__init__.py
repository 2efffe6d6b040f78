"""The TensorFlow/Keras 3 backend (imports tensorflow; loaded lazily)."""

from __future__ import annotations

import os
import warnings
from types import ModuleType

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import tensorflow as tf

from triptych.frameworks.tensorflow import build as native_build

tf.get_logger().setLevel("ERROR")  # retracing notices on every new model are noise here

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        f"KERAS_BACKEND is {keras.backend.backend()!r}; triptych's tensorflow "
        f"backend needs KERAS_BACKEND=tensorflow"
    )


class TensorflowBackend:
    """Keras 3 on TensorFlow, NHWC inside, converted at the boundary."""

    name = "tensorflow"
    #: how BatchNorm tracks running variance: "unbiased" (PyTorch rule) or "biased"
    bn_running_var = "unbiased"
    build = staticmethod(native_build.build_network)
    set_weights = staticmethod(native_build.set_weights)
    get_weights = staticmethod(native_build.get_weights)
    forward = staticmethod(native_build.forward)
    count_params = staticmethod(native_build.count_params)

    def version(self) -> str:
        return f"{tf.__version__} (keras {keras.__version__})"

    def set_threads(self, n: int) -> None:
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

    def seed_rng(self, built: list, seed: int) -> None:
        """Reset the Dropout layers' Keras seed generators to ``[seed, 0]``."""
        for b in built:
            for layer in b.native.layers:
                generator = getattr(layer, "seed_generator", None)
                if generator is not None:
                    generator.state.assign([int(seed) % (1 << 31), 0])

    @property
    def train(self) -> ModuleType:
        """Its ``train`` module (steps: make_trainer, make_generator_step, ...), lazily."""
        from triptych.frameworks.tensorflow import train

        return train

    @property
    def export(self) -> ModuleType:
        """Its ``export`` module (``export_network``), imported lazily (tf2onnx is slow)."""
        from triptych.frameworks.tensorflow import export

        return export


BACKEND = TensorflowBackend()
