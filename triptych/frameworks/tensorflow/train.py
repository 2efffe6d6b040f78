"""Training steps with ``tf.GradientTape`` inside a ``tf.function``: a chain of networks,
one loss, one Keras optimizer. Inputs and 4-D targets are moved to NHWC at the boundary."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from triptych.common.recipe import Optimizer, check_loss
from triptych.frameworks.tensorflow.build import KerasBuilt, to_native_input


def _loss(kind: str, out: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    if kind == "mse":
        return tf.reduce_mean(tf.square(out - target))
    if kind == "cross_entropy":
        return tf.reduce_mean(
            keras.losses.sparse_categorical_crossentropy(
                tf.cast(target, tf.int64), out, from_logits=True
            )
        )
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=out))


def make_trainer(
    chain: list[KerasBuilt], loss: str, optimizer: Optimizer
) -> Callable[[np.ndarray, np.ndarray], float]:
    """``step(x, target) -> loss``: train-mode forward through ``chain``, backward, update."""
    kind = check_loss(loss)
    models = [b.native for b in chain]
    variables = [v for m in models for v in m.trainable_variables]
    if optimizer.name == "sgd":
        opt = keras.optimizers.SGD(learning_rate=optimizer.lr)
    else:
        opt = keras.optimizers.Adam(
            learning_rate=optimizer.lr,
            beta_1=optimizer.betas[0],
            beta_2=optimizer.betas[1],
            epsilon=optimizer.eps,
        )

    @tf.function(reduce_retracing=True)
    def _step(x: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            h = x
            for m in models:
                h = m(h, training=True)
            value = _loss(kind, h, target)
        grads = tape.gradient(value, variables)
        opt.apply_gradients(zip(grads, variables, strict=True))
        return value

    def step(x: np.ndarray, target: np.ndarray) -> float:
        t = to_native_input(np.asarray(target)) if np.ndim(target) == 4 else np.asarray(target)
        if kind != "cross_entropy":
            t = t.astype(np.float32)
        return float(_step(to_native_input(np.asarray(x, np.float32)), t))

    return step
