"""Dropout -> `MaskedDropout`, StochasticDepth -> `MaskedStochasticDepth` (exact masks in
training parity, the network's own generator otherwise)."""

from __future__ import annotations

from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.sonnet.compat import snt, tf
from triptych.frameworks.sonnet.layers.context import CONVERTERS, BuildContext, SonnetNode


class MaskedDropout(snt.Module):
    """Inverted Dropout of rate ``p``. In training it multiplies by, in this order of
    precedence: ``mask_input``, a mask tensor of the graph being traced (a statically shaped
    input of the train step, `triptych.frameworks.sonnet.train.SupervisedStep.run_masked`,
    set only while that step traces); with ``exact`` on (`set_dropout_masks`) the mask held
    in a shape-less variable (exact Dropout, `triptych.common.dropout`); otherwise masks
    from ``rng``, the network's ``tf.random.Generator`` (`runtime.seed_rng` reseeds it).
    Both are read when a ``tf.function`` traces. Inference: the identity. The mask variable
    is of ``dtype``, the network's."""

    def __init__(
        self, p: float, rng: tf.random.Generator, name: str | None = None, dtype: str = "float32"
    ) -> None:
        super().__init__(name=name)
        self.p, self.exact = float(p), False
        self.mask_input: Any = None
        self.rng = rng
        self.mask = tf.Variable(
            np.ones((1,), dtype), shape=tf.TensorShape(None), trainable=False, name="mask"
        )

    def __call__(self, x: Any, is_training: bool) -> Any:
        if not is_training or self.p == 0:
            return x
        if self.mask_input is not None:
            return x * tf.stop_gradient(self.mask_input)  # a constant: no gradient built for it
        if self.exact:
            return x * tf.reshape(self.mask, self.mask_shape(x))
        keep = self.rng.uniform(self.mask_shape(x)) >= self.p
        return x * tf.cast(keep, x.dtype) / (1.0 - self.p)

    def mask_shape(self, x: Any) -> Any:
        """The shape of the mask on ``x`` (Dropout: its own, one keep per element)."""
        return tf.shape(x)


class MaskedStochasticDepth(MaskedDropout):
    """Stochastic depth ("row" mode): `MaskedDropout` with one keep per sample, its masks
    (batch, 1, ..., 1) broadcast over the sample (the exact ones, and the ones ``rng``
    draws). Inference: the identity."""

    def mask_shape(self, x: Any) -> Any:
        return tf.concat([tf.shape(x)[:1], tf.ones([len(x.shape) - 1], tf.int32)], axis=0)


@CONVERTERS.register(S.Dropout)
def dropout(layer: S.Dropout, ctx: BuildContext) -> SonnetNode:
    mod = MaskedDropout(layer.p, ctx.rng, name=ctx.name, dtype=ctx.dtype)
    return SonnetNode(lambda xs, t: mod(xs[0], t), mod)


@CONVERTERS.register(S.StochasticDepth)
def stochastic_depth(layer: S.StochasticDepth, ctx: BuildContext) -> SonnetNode:
    mod = MaskedStochasticDepth(layer.p, ctx.rng, name=ctx.name, dtype=ctx.dtype)
    return SonnetNode(lambda xs, t: mod(xs[0], t), mod)
