"""Harness overhead: triptych's train step against a minimal hand-written loop in the same
framework, on the same network, batch and optimizer (Adam 1e-4, MSE). Run in its own
process: ``python -m triptych.bench.overhead FW MODEL BATCH THREADS`` prints a RESULT line."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from triptych.bench.worker import _limit_threads


def _median_ms(fn: Callable[[], Any], warmup: int = 5, repeats: int = 50) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1000


def _plain_step(model: Any, x: np.ndarray, t: np.ndarray) -> Callable[[], Any]:
    chain = [model.native(n) for n in model.spec.main_chain]
    fw = model.framework
    if fw == "torch":
        import torch

        params = [p for m in chain for p in m.parameters()]
        opt = torch.optim.Adam(params, lr=1e-4, eps=1e-8)
        xt, tt = torch.from_numpy(x), torch.from_numpy(t)

        def step() -> Any:
            for m in chain:
                m.train()
            h = xt
            for m in chain:
                h = m(h)
            loss = torch.nn.functional.mse_loss(h, tt)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss

        return step
    if fw == "tensorflow":
        import keras
        import tensorflow as tf

        from triptych.frameworks.tensorflow.build import to_native_input

        variables = [v for m in chain for v in m.trainable_variables]
        opt = keras.optimizers.Adam(1e-4, epsilon=1e-8)
        xt, tt = tf.constant(to_native_input(x)), tf.constant(to_native_input(t))

        @tf.function
        def tf_step() -> Any:
            with tf.GradientTape() as tape:
                h = xt
                for m in chain:
                    h = m(h, training=True)
                loss = tf.reduce_mean(tf.square(h - tt))
            opt.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
            return loss

        return lambda: float(tf_step())
    from triptych.frameworks.mxnet.compat import mx

    params = [p for b in chain for p in b.collect_params().values() if p.grad_req != "null"]
    trainer = mx.gluon.Trainer(params, "adam", {"learning_rate": 1e-4, "epsilon": 1e-8})
    xt, tt = mx.nd.array(x), mx.nd.array(t)

    def mx_step() -> Any:
        with mx.autograd.record():
            h = xt
            for b in chain:
                h = b(h)
            loss = mx.nd.mean(mx.nd.square(h - tt))
        loss.backward()
        trainer.step(1)
        return float(loss.asscalar())

    return mx_step


def measure(framework: str, model_name: str, batch: int, threads: int) -> dict[str, Any]:
    _limit_threads(threads)
    import triptych
    from triptych.common.recipe import Optimizer

    ours = triptych.create(model_name, framework=framework, seed=0)
    ours.backend.set_threads(threads)
    plain = triptych.create(model_name, framework=framework, seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((batch, *ours.spec.input_shape), dtype=np.float32)
    t = rng.random((batch, *ours.spec.output_shape), dtype=np.float32)
    step = ours.make_trainer("mse", Optimizer("adam", 1e-4))
    triptych_ms = _median_ms(lambda: step(x, t))
    plain_ms = _median_ms(_plain_step(plain, x, t))
    return {
        "framework": framework,
        "model": model_name,
        "batch": batch,
        "triptych_ms": triptych_ms,
        "plain_ms": plain_ms,
        "overhead": triptych_ms / plain_ms - 1.0,
    }


if __name__ == "__main__":
    fw, name, b, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    print("RESULT " + json.dumps(measure(fw, name, b, n)))
