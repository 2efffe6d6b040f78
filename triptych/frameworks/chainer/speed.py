"""What the benchmarks need from Chainer: numpy -> array (Chainer computes on numpy arrays
as they are), the recommended fast inference path (eval mode without the backprop graph) and
a minimal hand-written train step (the yardstick of triptych's own step in the
harness-overhead measurement)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.chainer.build import ChainerBuilt
from triptych.frameworks.chainer.compat import F, chainer

#: why the benchmarks have no tuned variant of this framework (it would repeat the default
#: cell), or None when its ``fast_infer``/``plain_train_step`` take speed options
NO_TUNED_VARIANT: str | None = (
    "Chainer has no faster path to switch on (numpy on the CPU: no graph compiler, no "
    "layout option); the default cell is its only one"
)


def to_native(x: np.ndarray, network: S.Network | None = None) -> np.ndarray:
    """A canonical NCHW (or flat) float32 batch as Chainer takes it: the numpy array; int64
    token ids where ``network`` takes them."""
    dtype = "float32" if network is None else S.numpy_input_dtype(network, "float32")
    return np.ascontiguousarray(x, dtype=dtype)


def fast_infer(chain: list[ChainerBuilt], x: np.ndarray) -> Callable[[], np.ndarray]:
    """Eval-mode forward of ``chain`` on ``x`` with ``train=False`` and no backprop graph."""
    nets = [b.native for b in chain]
    xin = to_native(x, chain[0].network)

    def run() -> np.ndarray:
        with chainer.using_config("train", False), chainer.no_backprop_mode():
            h = xin
            for net in nets:
                h = net(h)
            return np.asarray(h.array)

    return run


def _adam(chain: list[ChainerBuilt], lr: float) -> tuple[chainer.Optimizer, chainer.Chain]:
    """Chainer's own Adam (alpha ``lr``, eps 1e-8) over the whole chain, as a user sets it
    up: one ``ChainList`` holding the networks."""
    holder = chainer.ChainList(*[b.native for b in chain])
    opt = chainer.optimizers.Adam(alpha=lr, eps=1e-8)
    opt.setup(holder)
    return opt, holder


def plain_train_step(
    chain: list[ChainerBuilt], x: np.ndarray, target: np.ndarray, lr: float = 1e-4
) -> Callable[[], Any]:
    """The textbook Chainer loop: forward, MSE, ``cleargrads``/``backward``/``update``."""
    opt, holder = _adam(chain, lr)
    xin, tin = to_native(x, chain[0].network), to_native(target)

    def step() -> Any:
        with chainer.using_config("train", True):
            h = xin
            for b in chain:
                h = b.native(h)
            loss = F.mean_squared_error(h, tin)
        holder.cleargrads()
        loss.backward()
        opt.update()
        return loss

    return step


def hand_train_step(
    chain: list[ChainerBuilt], loss: str = "cross_entropy", lr: float = 1e-4
) -> Callable[[np.ndarray, np.ndarray], Any]:
    """A hand-written loop's step on a numpy batch: Chainer's own Adam (lr, eps 1e-8),
    ``loss`` "cross_entropy" (integer labels) or "mse"; returns the loss Variable."""
    opt, holder = _adam(chain, lr)

    def step(x: np.ndarray, y: np.ndarray) -> Any:
        with chainer.using_config("train", True):
            h = to_native(x, chain[0].network)
            for b in chain:
                h = b.native(h)
            value = (
                F.softmax_cross_entropy(h, y.astype(np.int32))
                if loss == "cross_entropy"
                else F.mean_squared_error(h, y)
            )
        holder.cleargrads()
        value.backward()
        opt.update()
        return value

    return step


def cpu_gemm(a: np.ndarray, b: np.ndarray) -> Callable[[], Any]:
    """A call computing ``a @ b`` (fp32) with ``F.matmul``, numpy's BLAS underneath: the
    benchmark peak's measurement (`triptych.bench.gemm_peak`)."""
    return lambda: F.matmul(a, b)
