"""TensorFlow/Keras 3 set-up, imported before anything else of this backend.

Keras 3 must run on the tensorflow backend (``KERAS_BACKEND``); TensorFlow's C++ logging and
retracing notices are quietened. Each cure lives here once.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import tensorflow as tf

tf.get_logger().setLevel("ERROR")  # retracing notices on every new model are noise here

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        f"KERAS_BACKEND is {keras.backend.backend()!r}; triptych's tensorflow "
        f"backend needs KERAS_BACKEND=tensorflow"
    )

__all__ = ["keras", "tf"]
