"""What the benchmarks need from JAX: numpy -> device array, the recommended fast inference
path (the eval-mode forward under ``jax.jit``, which is JAX's one execution path: XLA
compiles the whole network), a minimal hand-written train step (the yardstick of triptych's
own step in the harness-overhead measurement: ``jax.jit`` of loss, ``jax.grad`` and
``optax.adam``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import optax

from triptych.frameworks.jax.build import JaxBuilt
from triptych.frameworks.jax.compat import jax, jnp
from triptych.frameworks.jax.layers import Run
from triptych.frameworks.jax.losses import cross_entropy, mse

#: why the benchmarks have no tuned variant of this framework (it would repeat the default
#: cell), or None when its ``fast_infer``/``plain_train_step`` take speed options
NO_TUNED_VARIANT: str | None = (
    "JAX's default path is already compiled (every forward and train step runs under "
    "jax.jit, XLA's whole-program compilation); there is no faster switch to turn on"
)


def to_native(x: np.ndarray) -> jax.Array:
    """A canonical NCHW (or flat) float32 batch as a jax array on the CPU device."""
    return jax.device_put(np.ascontiguousarray(x, dtype=np.float32))


def _chain_fn(chain: list[JaxBuilt], training: bool) -> Callable[..., Any]:
    """``f(params, states, x) -> (y, states)`` through ``chain`` (not jitted)."""
    nets = [b.native for b in chain]

    def f(params: list, states: list, x: Any, key: Any = None) -> Any:
        new = []
        for net, p, s in zip(nets, params, states, strict=True):
            x, s = net.apply(p, s, x, Run(training, None, key))
            new.append(s)
        return x, new

    return f


def fast_infer(chain: list[JaxBuilt], x: np.ndarray) -> Callable[[], np.ndarray]:
    """Eval-mode forward of ``chain`` on ``x`` as one ``jax.jit``-compiled function (the first
    call compiles); numpy out."""
    f = jax.jit(lambda p, s, h: _chain_fn(chain, False)(p, s, h)[0])
    params = [b.native.params for b in chain]
    states = [b.native.state for b in chain]
    xin = to_native(x)

    def run() -> np.ndarray:
        return np.asarray(f(params, states, xin))

    return run


def _adam_step(chain: list[JaxBuilt], loss: Callable[[Any, Any], Any], lr: float) -> Callable:
    """The textbook JAX step: one jitted function of (params, states, opt state, x, y)."""
    forward = _chain_fn(chain, True)
    tx = optax.adam(lr, eps=1e-8)

    def objective(params: list, states: list, x: Any, y: Any, key: Any) -> Any:
        h, new = forward(params, states, x, key)
        return loss(h, y), new

    @jax.jit
    def step(params: list, states: list, opt: Any, x: Any, y: Any, key: Any) -> Any:
        (value, new), grads = jax.value_and_grad(objective, has_aux=True)(params, states, x, y, key)
        updates, opt = tx.update(grads, opt, params)
        return value, optax.apply_updates(params, updates), new, opt

    holder = {
        "params": [dict(b.native.params) for b in chain],
        "states": [dict(b.native.state) for b in chain],
        "key": jax.random.PRNGKey(0),
    }
    holder["opt"] = tx.init(holder["params"])

    def run(x: Any, y: Any) -> Any:
        holder["key"], key = jax.random.split(holder["key"])
        value, holder["params"], holder["states"], holder["opt"] = step(
            holder["params"], holder["states"], holder["opt"], x, y, key
        )
        return value

    return run


def plain_train_step(
    chain: list[JaxBuilt], x: np.ndarray, target: np.ndarray, lr: float = 1e-4
) -> Callable[[], Any]:
    """A hand-written JAX step: jit(value_and_grad(MSE) + ``optax.adam``) on fixed arrays."""
    run = _adam_step(chain, mse, lr)
    xin, tin = to_native(x), to_native(target)
    return lambda: run(xin, tin)


def hand_train_step(
    chain: list[JaxBuilt], loss: str = "cross_entropy", lr: float = 1e-4
) -> Callable[[np.ndarray, np.ndarray], Any]:
    """A hand-written loop's step on a numpy batch: ``optax.adam`` (lr, eps 1e-8), ``loss``
    "cross_entropy" (integer labels) or "mse"; returns the loss as a jax scalar."""
    run = _adam_step(chain, cross_entropy if loss == "cross_entropy" else mse, lr)

    def step(x: np.ndarray, y: np.ndarray) -> Any:
        yin = jnp.asarray(y) if loss == "cross_entropy" else to_native(y)
        return run(to_native(x), yin)

    return step


def cpu_gemm(a: np.ndarray, b: np.ndarray) -> Callable[[], Any]:
    """A call computing ``a @ b`` (fp32) with XLA's compiled dot, waiting for the result:
    the benchmark peak's measurement (`triptych.bench.gemm_peak`)."""
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    dot = jax.jit(jnp.dot)
    return lambda: dot(ja, jb).block_until_ready()
