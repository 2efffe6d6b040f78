"""Dropout -> `MaskedDropout`, StochasticDepth -> `MaskedStochasticDepth` (exact masks in
training parity, Keras's own otherwise)."""

from __future__ import annotations

from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.tensorflow.compat import keras, tf
from triptych.frameworks.tensorflow.layers.context import CONVERTERS, BuildContext, KerasNode


class MaskedDropout(keras.layers.Dropout):
    """Keras Dropout with exact Dropout (`triptych.common.dropout`). In training it
    multiplies by, in this order of precedence:

    * ``mask_input``: a mask tensor of the graph being traced (a statically shaped input of
      the train step, `triptych.frameworks.tensorflow.train.SupervisedStep.run_masked`),
      set only while that step traces;
    * with ``exact`` on (`set_dropout_masks`): the mask held in a shape-less ``tf.Variable``;
    * otherwise Keras's own Dropout.

    Inference is the identity. ``exact`` and ``mask_input`` are read when a ``tf.function``
    traces; a new mask is a variable assignment or a new input, so a traced step does not
    retrace. Both are set with ``object.__setattr__`` so Keras does not track them (they
    are no weights of the model).
    """

    def __init__(self, rate: float, **kwargs: Any) -> None:
        super().__init__(rate, **kwargs)
        object.__setattr__(self, "exact", False)
        object.__setattr__(self, "mask_input", None)
        object.__setattr__(
            self,
            "mask_var",
            tf.Variable(
                np.ones((1,), self.compute_dtype), shape=tf.TensorShape(None), trainable=False
            ),
        )

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if training and self.mask_input is not None:
            # a constant of the step: no gradient for it is built (measured ~1.5 % of a
            # classifier step, with the same numbers)
            return inputs * tf.stop_gradient(self.mask_input)
        if training and self.exact:
            return inputs * tf.reshape(self.mask_var, self.mask_shape(inputs))
        return super().call(inputs, training=training)

    def mask_shape(self, inputs: Any) -> Any:
        """The shape of the mask on ``inputs`` (Dropout: theirs, one keep per element)."""
        return tf.shape(inputs)


class MaskedStochasticDepth(MaskedDropout):
    """Stochastic depth ("row" mode): `MaskedDropout` with one keep per sample, the
    masks (batch, 1, ..., 1) broadcast over the sample; without a mask Keras's own
    Dropout with ``noise_shape`` (None, 1, ..., 1) (one draw per sample, scaled by
    1/(1-p)). Inference is the identity."""

    def __init__(self, rate: float, rank: int, **kwargs: Any) -> None:
        super().__init__(rate, noise_shape=(None,) + (1,) * rank, **kwargs)
        self.rank = int(rank)

    def mask_shape(self, inputs: Any) -> Any:
        return [-1] + [1] * self.rank


@CONVERTERS.register(S.Dropout)
def dropout(layer: S.Dropout, ctx: BuildContext) -> KerasNode:
    return KerasNode.of(MaskedDropout(layer.p, **ctx.kw))


@CONVERTERS.register(S.StochasticDepth)
def stochastic_depth(layer: S.StochasticDepth, ctx: BuildContext) -> KerasNode:
    return KerasNode.of(MaskedStochasticDepth(layer.p, len(ctx.input_shape), **ctx.kw))
