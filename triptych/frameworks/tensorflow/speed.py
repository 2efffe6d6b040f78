"""What the benchmarks need from TensorFlow/Keras: numpy -> tensor (NHWC inside), the
recommended fast inference path (XLA ``jit_compile``) and a minimal hand-written train step
(the yardstick of triptych's own step in the harness-overhead measurement)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.tensorflow.build import KerasBuilt, to_native_input
from triptych.frameworks.tensorflow.compat import keras, tf

#: why the benchmarks have no tuned variant of this framework (it would repeat the default
#: cell), or None when its ``fast_infer``/``plain_train_step`` take speed options
NO_TUNED_VARIANT: str | None = None


def to_native(x: np.ndarray, dtype: str = "float32") -> tf.Tensor:
    """A canonical NCHW (or flat) batch as a ``dtype`` tensor in Keras's NHWC layout
    (``dtype`` "int64": token ids (N, L), as they are)."""
    return tf.constant(to_native_input(np.asarray(x, dtype=dtype)))


def _input_dtype(chain: list[KerasBuilt]) -> str:
    """float32, or int64 where the chain's first network takes token ids."""
    return S.numpy_input_dtype(chain[0].network, "float32")


def fast_infer(chain: list[KerasBuilt], x: np.ndarray) -> Callable[[], np.ndarray]:
    """Eval-mode forward of ``chain`` on ``x`` as one XLA-compiled ``tf.function``."""
    models = [b.native for b in chain]

    @tf.function(jit_compile=True)
    def chain_fn(h: Any) -> Any:
        for m in models:
            h = m(h, training=False)
        return h

    xin = to_native(x, _input_dtype(chain))
    return lambda: chain_fn(xin).numpy()


def plain_train_step(
    chain: list[KerasBuilt], x: np.ndarray, target: np.ndarray, lr: float = 1e-4
) -> Callable[[], Any]:
    """The textbook loop: GradientTape in a ``tf.function``, Adam(lr, eps 1e-8), MSE."""
    models = [b.native for b in chain]
    variables = [v for m in models for v in m.trainable_variables]
    opt = keras.optimizers.Adam(lr, epsilon=1e-8)
    xt, tt = to_native(x, _input_dtype(chain)), to_native(target)

    @tf.function
    def step() -> Any:
        with tf.GradientTape() as tape:
            h = xt
            for m in models:
                h = m(h, training=True)
            loss = tf.reduce_mean(tf.square(h - tt))
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    return lambda: float(step())


def hand_train_step(
    chain: list[KerasBuilt], loss: str = "cross_entropy", lr: float = 1e-4
) -> Callable[[np.ndarray, np.ndarray], Any]:
    """A hand-written loop's step on a numpy batch: tensors from numpy (images to NHWC),
    a ``tf.function`` with GradientTape, Keras' own Adam (lr, eps 1e-8), ``loss``
    "cross_entropy" (integer labels, logits) or "mse"; returns the loss tensor, not read
    back (a loop reads it when it logs)."""
    models = [b.native for b in chain]
    variables = [v for m in models for v in m.trainable_variables]
    opt = keras.optimizers.Adam(lr, epsilon=1e-8)

    @tf.function
    def graph_step(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            h = x
            for m in models:
                h = m(h, training=True)
            if loss == "cross_entropy":
                value = tf.reduce_mean(
                    keras.losses.sparse_categorical_crossentropy(y, h, from_logits=True)
                )
            else:
                value = tf.reduce_mean(tf.square(h - y))
        opt.apply_gradients(zip(tape.gradient(value, variables), variables, strict=True))
        return value

    def step(x: np.ndarray, y: np.ndarray) -> Any:
        target = tf.constant(y) if loss == "cross_entropy" else to_native(y)
        return graph_step(to_native(x, _input_dtype(chain)), target)

    return step


def cpu_gemm(a: np.ndarray, b: np.ndarray) -> Callable[[], Any]:
    """A call computing ``a @ b`` (fp32) with TensorFlow's CPU MatMul (Eigen / oneDNN): the
    benchmark peak's measurement (`triptych.bench.gemm_peak`)."""
    ta, tb = tf.constant(a), tf.constant(b)
    return lambda: tf.linalg.matmul(ta, tb)
