"""The training losses, PyTorch's formulas (means over every element / sample)."""

from __future__ import annotations

from triptych.frameworks.jax.compat import jax, jnp
from triptych.frameworks.jax.layers.context import Array


def mse(h: Array, t: Array) -> Array:
    """mean((h - t)²)."""
    return jnp.mean(jnp.square(h - t))


def cross_entropy(logits: Array, labels: Array) -> Array:
    """mean(-log_softmax(logits)[label]) over the batch; ``labels`` integers (N,)."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(logp, labels.astype(jnp.int32)[:, None], axis=-1)
    return -jnp.mean(picked)


def bce_logits(x: Array, t: Array) -> Array:
    """Binary cross-entropy on logits, PyTorch's stable form:
    (1 - t) · x + max(-x, 0) + log(exp(-max(-x, 0)) + exp(-x - max(-x, 0)))."""
    m = jnp.maximum(-x, 0.0)
    return jnp.mean((1.0 - t) * x + m + jnp.log(jnp.exp(-m) + jnp.exp(-x - m)))


LOSSES = {"mse": mse, "cross_entropy": cross_entropy, "bce_logits": bce_logits}
