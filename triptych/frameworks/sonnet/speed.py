"""What the benchmarks need from Sonnet: numpy -> tensor (NHWC inside, the TensorFlow
backend's `to_native`), the recommended fast inference path (XLA ``jit_compile``) and a
minimal hand-written train step (the yardstick of triptych's own step in the
harness-overhead measurement)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.sonnet.build import SonnetBuilt
from triptych.frameworks.sonnet.compat import snt, tf
from triptych.frameworks.tensorflow.speed import to_native

#: why the benchmarks have no tuned variant of this framework (it would repeat the default
#: cell), or None when its ``fast_infer``/``plain_train_step`` take speed options
NO_TUNED_VARIANT: str | None = None

__all__ = ["fast_infer", "plain_train_step", "to_native"]


def fast_infer(chain: list[SonnetBuilt], x: np.ndarray) -> Callable[[], np.ndarray]:
    """Eval-mode forward of ``chain`` on ``x`` as one XLA-compiled ``tf.function``."""
    nets = [b.native for b in chain]

    @tf.function(jit_compile=True)
    def chain_fn(h: Any) -> Any:
        for net in nets:
            h = net(h, is_training=False)
        return h

    xin = to_native(x, S.numpy_input_dtype(chain[0].network, "float32"))
    return lambda: chain_fn(xin).numpy()


def plain_train_step(
    chain: list[SonnetBuilt], x: np.ndarray, target: np.ndarray, lr: float = 1e-4
) -> Callable[[], Any]:
    """The textbook Sonnet loop: GradientTape in a ``tf.function``,
    ``snt.optimizers.Adam(lr, epsilon=1e-8)``, MSE."""
    nets = [b.native for b in chain]
    variables = [v for net in nets for v in net.trainable_variables]
    opt = snt.optimizers.Adam(lr, epsilon=1e-8)
    xt = to_native(x, S.numpy_input_dtype(chain[0].network, "float32"))
    tt = to_native(target)

    @tf.function
    def step() -> Any:
        with tf.GradientTape() as tape:
            h = xt
            for net in nets:
                h = net(h, is_training=True)
            loss = tf.reduce_mean(tf.square(h - tt))
        opt.apply(tape.gradient(loss, variables), variables)
        return loss

    return lambda: float(step())


def cpu_gemm(a: np.ndarray, b: np.ndarray) -> Callable[[], Any]:
    """A call computing ``a @ b`` (fp32) with TensorFlow's MatMul, what ``snt.Linear`` runs:
    the benchmark peak's measurement (`triptych.bench.gemm_peak`)."""
    ta, tb = tf.constant(a), tf.constant(b)
    return lambda: tf.linalg.matmul(ta, tb)
