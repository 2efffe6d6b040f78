"""The optimizers as optax transformations, in triptych's formulas:

* ``sgd``: p - lr · g (``optax``'s update is -lr · g, added: the same float32 numbers);
* ``adam``: triptych's Adam (`triptych.common.adam`, PyTorch's formula op by op); its step
  size ``lr / (1 - b1**t)`` and ``sqrt(1 - b2**t)`` are computed per parameter on the host
  in float64 (Python, as every other backend does) and rounded once to the build's dtype;
  they come into the jitted update as extra arguments (`optax.GradientTransformationExtraArgs`),
  so the compiled step never recompiles for a new t.

Each transformation takes per-parameter learning rates (a pytree of the parameters' shape
holding scalars): ``lr_mult`` and frozen layers need no second optimizer.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import optax

from triptych.common import adam
from triptych.frameworks.jax.compat import jax, jnp

Tree = Any


class AdamState(NamedTuple):
    """First and second moments, the parameters' tree structure."""

    m: Tree
    v: Tree


def sgd() -> optax.GradientTransformationExtraArgs:
    """-lr · g per parameter; ``update(grads, state, params, lr=tree)``."""

    def init(params: Tree) -> optax.EmptyState:
        return optax.EmptyState()

    def update(grads: Tree, state: Any, params: Tree = None, *, lr: Tree, **_: Any) -> Any:
        return jax.tree_util.tree_map(lambda g, a: -(g * a), grads, lr), state

    return optax.GradientTransformationExtraArgs(init, update)


def triptych_adam(b1: float, b2: float, eps: float) -> optax.GradientTransformationExtraArgs:
    """triptych's Adam; ``update(grads, state, params, step_size=tree, bias2_sqrt=tree)``
    returns -(m / (sqrt(v) / sqrt(bias2) + eps)) · step size."""
    one_b1, one_b2 = 1.0 - b1, 1.0 - b2

    def init(params: Tree) -> AdamState:
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return AdamState(zeros, jax.tree_util.tree_map(jnp.zeros_like, params))

    def update(
        grads: Tree, state: AdamState, params: Tree = None, *,
        step_size: Tree, bias2_sqrt: Tree, **_: Any,
    ) -> tuple[Tree, AdamState]:  # fmt: skip
        tm = jax.tree_util.tree_map
        m = tm(lambda m, g: m * b1 + g * one_b1, state.m, grads)
        v = tm(lambda v, g: v * b2 + (g * g) * one_b2, state.v, grads)
        updates = tm(lambda m, v, s, c: -((m / (jnp.sqrt(v) / c + eps)) * s), m, v,
                     step_size, bias2_sqrt)  # fmt: skip
        return updates, AdamState(m, v)

    return optax.GradientTransformationExtraArgs(init, update)


class Scalars:
    """The host side of an optimizer: per-parameter learning rates (``lr · mult``, float64
    Python numbers), Adam's per-parameter step counts, and the extra arguments of each
    update rounded to ``dtype``."""

    def __init__(self, name: str, lrs: list[float], betas: tuple[float, float], dtype: Any):
        self.name, self.lrs, self.betas, self.dtype = name, lrs, betas, np.dtype(dtype)
        self.t = np.zeros(len(lrs), np.int64)

    def next(self, unflatten: Any) -> dict[str, Tree]:
        """The next update's extra arguments (counting the step), as ``unflatten`` (a list
        of per-parameter scalars -> the parameters' tree) arranges them."""
        d = self.dtype.type
        if self.name == "sgd":
            return {"lr": unflatten([d(lr) for lr in self.lrs])}
        self.t += 1
        if self.name == "adam_native":
            return {"lr": unflatten([d(lr) for lr in self.lrs])}
        b1, b2 = self.betas
        pairs = [adam.scalars(lr, b1, b2, int(t)) for lr, t in zip(self.lrs, self.t, strict=True)]
        return {
            "step_size": unflatten([d(s) for s, _ in pairs]),
            "bias2_sqrt": unflatten([d(c) for _, c in pairs]),
        }


def native_adam(b1: float, b2: float, eps: float) -> optax.GradientTransformationExtraArgs:
    """optax's own Adam (``optax.scale_by_adam``: bias-corrected m and v, eps outside the
    square root) times -lr per parameter: ``Optimizer("adam_native")``."""
    inner = optax.scale_by_adam(b1, b2, eps)
    scale = sgd()

    def update(grads: Tree, state: Any, params: Tree = None, *, lr: Tree, **_: Any) -> Any:
        direction, state = inner.update(grads, state, params)
        return scale.update(direction, None, params, lr=lr)[0], state

    return optax.GradientTransformationExtraArgs(inner.init, update)


def make(
    name: str, betas: tuple[float, float], eps: float
) -> optax.GradientTransformationExtraArgs:
    """The transformation of optimizer ``name``: sgd, adam (triptych's) or adam_native
    (optax's)."""
    if name == "sgd":
        return sgd()
    if name == "adam_native":
        return native_adam(betas[0], betas[1], eps)
    return triptych_adam(betas[0], betas[1], eps)


def moments(state: Any) -> tuple[Tree, Tree] | None:
    """(m, v) of an Adam state (triptych's or optax's), None for SGD's."""
    if isinstance(state, AdamState):
        return state.m, state.v
    if isinstance(state, optax.ScaleByAdamState):
        return state.mu, state.nu
    return None


def with_moments(state: Any, m: Tree, v: Tree, count: int) -> Any:
    """``state`` with moments ``m``, ``v`` (and optax's step ``count``)."""
    if isinstance(state, AdamState):
        return AdamState(m, v)
    return optax.ScaleByAdamState(jnp.asarray(count, jnp.int32), m, v)
