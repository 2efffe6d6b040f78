"""What the benchmarks need from MXNet/Gluon: numpy -> NDArray, the recommended fast
inference path (``hybridize(static_alloc, static_shape)``) and a minimal hand-written train
step (the yardstick of triptych's own step in the harness-overhead measurement)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.mxnet.build import GluonBuilt
from triptych.frameworks.mxnet.compat import mx

#: why the benchmarks have no tuned variant of this framework (it would repeat the default
#: cell), or None when its ``fast_infer``/``plain_train_step`` take speed options
NO_TUNED_VARIANT: str | None = None


def to_native(x: np.ndarray, network: S.Network | None = None) -> Any:
    """A canonical NCHW (or flat) float32 batch as an ``mx.nd.NDArray`` on the CPU; int64
    token ids where ``network`` takes them."""
    dtype = "float32" if network is None else S.numpy_input_dtype(network, "float32")
    return mx.nd.array(np.asarray(x, dtype=dtype), dtype=dtype)


def fast_infer(chain: list[GluonBuilt], x: np.ndarray) -> Callable[[], np.ndarray]:
    """Eval-mode forward of ``chain`` on ``x`` with static hybridized graphs."""
    blocks = [b.native for b in chain]
    for block in blocks:
        block.hybridize(static_alloc=True, static_shape=True)
    data = to_native(x, chain[0].network)

    def run() -> np.ndarray:
        h = data
        for block in blocks:
            h = block(h)
        return h.asnumpy()

    return run


def plain_train_step(
    chain: list[GluonBuilt], x: np.ndarray, target: np.ndarray, lr: float = 1e-4
) -> Callable[[], Any]:
    """The textbook loop: ``autograd.record``, Adam(lr, eps 1e-8) Trainer, MSE."""
    blocks = [b.native for b in chain]
    params = [p for b in blocks for p in b.collect_params().values() if p.grad_req != "null"]
    trainer = mx.gluon.Trainer(params, "adam", {"learning_rate": lr, "epsilon": 1e-8})
    xt, tt = to_native(x, chain[0].network), to_native(target)

    def step() -> Any:
        with mx.autograd.record():
            h = xt
            for b in blocks:
                h = b(h)
            loss = mx.nd.mean(mx.nd.square(h - tt))
        loss.backward()
        trainer.step(1)
        return float(loss.asscalar())

    return step


def hand_train_step(
    chain: list[GluonBuilt], loss: str = "cross_entropy", lr: float = 1e-4
) -> Callable[[np.ndarray, np.ndarray], Any]:
    """A hand-written loop's step on a numpy batch: NDArrays from numpy, ``autograd.record``,
    Gluon's Adam Trainer (lr, eps 1e-8), ``loss`` "cross_entropy" (Gluon's
    SoftmaxCrossEntropyLoss on integer labels) or "mse"; returns the loss NDArray, not waited
    for (a loop reads it when it logs)."""
    blocks = [b.native for b in chain]
    params = [p for b in blocks for p in b.collect_params().values() if p.grad_req != "null"]
    trainer = mx.gluon.Trainer(params, "adam", {"learning_rate": lr, "epsilon": 1e-8})
    ce = mx.gluon.loss.SoftmaxCrossEntropyLoss()

    def step(x: np.ndarray, y: np.ndarray) -> Any:
        h, t = to_native(x, chain[0].network), mx.nd.array(y, dtype="float32")
        with mx.autograd.record():
            for b in blocks:
                h = b(h)
            value = ce(h, t).mean() if loss == "cross_entropy" else mx.nd.mean((h - t) ** 2)
        value.backward()
        trainer.step(1)
        return value

    return step


def cpu_gemm(a: np.ndarray, b: np.ndarray) -> Callable[[], Any]:
    """A call computing ``a @ b.T`` (fp32, the same FLOPs as ``a @ b`` for square inputs) with
    MXNet's FullyConnected, oneDNN's inner product where oneDNN is on: the benchmark peak's
    measurement (`triptych.bench.gemm_peak`)."""
    x, w = mx.nd.array(a), mx.nd.array(b)
    n = int(b.shape[0])
    return lambda: mx.nd.FullyConnected(x, w, num_hidden=n, no_bias=True).wait_to_read()
