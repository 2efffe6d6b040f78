"""Training steps with ``tf.GradientTape`` inside ``tf.function``. Same function names in
every backend (see `triptych.frameworks.torch.train`). Inputs and 4-D targets/weights move to
NHWC at the boundary; every loss term is a mean, so the layout does not change its value.
``run(...)`` is the step returning its values as tensors without reading them back (the
training loop converts them in bulk with `to_floats` when it logs); a ``tf.Tensor`` input is
taken as already native (NHWC images, int64 labels, as `triptych.frameworks.tensorflow.speed`
makes them). Steps run in their networks' dtype (``built.dtype``: float32, or float64 for a
float64 build): numpy inputs, targets and masks are cast to it, losses come out in it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from triptych.common.recipe import Frozen, LrMult, Optimizer, check_loss
from triptych.frameworks.tensorflow.build import KerasBuilt, set_dropout_masks
from triptych.frameworks.tensorflow.compat import keras, tf
from triptych.frameworks.tensorflow.optimizers import Adam, KerasUpdate, make_optimizer
from triptych.frameworks.tensorflow.shared import (
    PreparedMasks,
    bce_logits,
    dense_grads,
    native,
    native_mask,
    to_floats,
)

__all__ = [
    "DiscriminatorStep",
    "GeneratorStep",
    "PreparedMasks",
    "SupervisedStep",
    "make_discriminator_step",
    "make_generator_step",
    "make_trainer",
    "native",
    "native_mask",
    "to_floats",
]

#: triptych's Adam under its former name here (tests import it so)
_Adam = Adam


class _Step:
    opt: Adam | KerasUpdate
    #: the networks' dtype ("float32" or "float64"), what numpy inputs are cast to
    dtype: str = "float32"

    def state(self) -> dict[str, np.ndarray]:
        """The optimizer state as named arrays (`triptych.common.adam`; Keras' own:
        ``keras.NNNN``)."""
        return self.opt.state()

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `state` returned; ValueError (one line) if it does not fit."""
        self.opt.load_state(state)


class SupervisedStep(_Step):
    def __init__(
        self,
        chain: list[KerasBuilt],
        loss: str,
        optimizer: Optimizer,
        frozen: Frozen = frozenset(),
        lr_mult: LrMult | None = None,
        tuned: bool = False,
    ) -> None:
        self.kind = check_loss(loss)
        self.dtype = chain[0].dtype
        self.input_dtype = chain[0].input_dtype  # the build's dtype, or int64 token ids
        self.models = [b.native for b in chain]
        groups: dict[float, list[tf.Variable]] = {}
        for b in chain:
            for i, holder in b.holders.items():
                key = (b.network.name, i)
                if key in frozen:  # Keras: not trainable; a frozen BN runs in inference mode
                    holder.trainable = False
                    continue
                groups.setdefault((lr_mult or {}).get(key, 1.0), []).extend(
                    holder.trainable_variables
                )
        # a multiplier of 0 keeps the layer's parameters fixed (it still runs in train mode)
        kept = [(mult, vs) for mult, vs in groups.items() if vs and mult > 0]
        if not kept:
            raise ValueError("every layer is frozen: nothing to train")
        self.variables = [v for _, vs in kept for v in vs]
        self.opt = make_optimizer(optimizer, self.variables, [m for m, vs in kept for _ in vs])
        # tuned: XLA compilation of the whole step (TensorFlow's recommended speed option)
        self._step = tf.function(self._graph_step, reduce_retracing=True, jit_compile=tuned)
        self.dropouts = [(b, i, layer) for b in chain for i, layer in b.dropouts.items()]
        self._masked_step = tf.function(
            self._graph_step_masked, reduce_retracing=True, jit_compile=tuned
        )

    def _graph_step(self, x: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            h = x
            for m in self.models:
                h = m(h, training=True)
            if self.kind == "mse":
                value = tf.reduce_mean(tf.square(h - target))
            elif self.kind == "cross_entropy":
                value = tf.reduce_mean(
                    keras.losses.sparse_categorical_crossentropy(
                        tf.cast(target, tf.int64), h, from_logits=True
                    )
                )
            else:
                value = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(target, h))
        grads = dense_grads(tape.gradient(value, self.variables))
        self.opt.apply(grads)
        return value

    def _graph_step_masked(
        self, x: tf.Tensor, target: tf.Tensor, masks: list[tf.Tensor]
    ) -> tf.Tensor:
        """`_graph_step` with each Dropout layer multiplying by its mask, an input of this
        graph (statically shaped: the graph is specialised to it, nothing is assigned)."""
        layers = [layer for _, _, layer in self.dropouts]
        for layer, mask in zip(layers, masks, strict=True):
            object.__setattr__(layer, "mask_input", mask)  # read while this graph traces
        try:
            return self._graph_step(x, target)
        finally:
            for layer in layers:
                object.__setattr__(layer, "mask_input", None)

    def __call__(self, x: np.ndarray, target: np.ndarray) -> float:
        return float(self.run(x, target))

    def _target(self, target: np.ndarray | tf.Tensor) -> tf.Tensor:
        if isinstance(target, tf.Tensor):
            return target
        t = np.asarray(target)
        if self.kind == "cross_entropy":
            return tf.constant(t.astype(np.int64))
        return native(t, self.dtype)

    def run(self, x: np.ndarray | tf.Tensor, target: np.ndarray | tf.Tensor) -> tf.Tensor:
        """The step; the loss as a scalar tensor (no read-back)."""
        return self._step(native(x, self.input_dtype), self._target(target))

    def prepare_masks(self, masks: dict[str, dict[int, np.ndarray]]) -> PreparedMasks:
        """``masks`` (network name -> layer index -> canonical mask) as `run_masked` takes
        them fastest: native layout, one ``tf.Tensor`` per Dropout layer of the chain. Safe
        on another thread (`fit` prepares the next step's while a step runs)."""
        tensors = [
            tf.constant(native_mask(b, i, masks[b.network.name][i])) for b, i, _ in self.dropouts
        ]
        return PreparedMasks(masks, tensors)

    def run_masked(
        self,
        x: np.ndarray | tf.Tensor,
        target: np.ndarray | tf.Tensor,
        masks: dict[str, dict[int, np.ndarray]] | PreparedMasks,
    ) -> tf.Tensor:
        """`run` with exact Dropout: ``masks`` (network name -> layer index -> canonical
        mask, `triptych.common.dropout`, or what `prepare_masks` made of them) are inputs
        of the step's graph, which multiplies by them where the layers' variables would be
        (`build.set_dropout_masks` before `run`: the same numbers, bitwise, without the
        assignments). The layers' own mode (``exact``) is left as it was."""
        prepared = masks if isinstance(masks, PreparedMasks) else self.prepare_masks(masks)
        if "_graph_step" in vars(self):  # made data-parallel after this graph was made
            nets = {b.network.name: b for b, _, _ in self.dropouts}
            for name, b in nets.items():
                set_dropout_masks(b, prepared.canonical[name])
            try:
                return self.run(x, target)
            finally:
                for b in nets.values():
                    set_dropout_masks(b, None)
        x_in = native(x, self.input_dtype)
        return self._masked_step(x_in, self._target(target), prepared.tensors)


class GeneratorStep(_Step):
    def __init__(
        self,
        chain: list[KerasBuilt],
        optimizer: Optimizer,
        *,
        rec_weight: float,
        l1: float,
        disc: KerasBuilt | None,
        adv_weight: float,
    ) -> None:
        self.dtype = chain[0].dtype
        self.models = [b.native for b in chain]
        self.disc = disc.native if disc is not None and adv_weight > 0 else None
        self.rec_weight, self.l1, self.adv_weight = rec_weight, l1, adv_weight
        self.variables = [v for m in self.models for v in m.trainable_variables]
        self.opt = make_optimizer(optimizer, self.variables)
        self._steps: dict[tuple[bool, bool], object] = {}

    def _graph_step(
        self, x: tf.Tensor, target: tf.Tensor | None, weight: tf.Tensor | None
    ) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            h, code = x, None
            for i, m in enumerate(self.models):
                h = self._train_mode(m, h)
                if i == 0 and len(self.models) > 1:
                    code = h
            zero = tf.constant(0.0, self.dtype)
            rec = zero
            if target is not None:
                sq = tf.square(h - target)
                rec = (
                    tf.reduce_mean(sq)
                    if weight is None
                    else (tf.reduce_sum(sq * weight) / tf.reduce_sum(weight))
                )
            l1 = tf.reduce_mean(tf.abs(code)) if (self.l1 > 0 and code is not None) else zero
            adv = bce_logits(self._train_mode(self.disc, h), 1.0) if self.disc is not None else zero
            value = self.rec_weight * rec + self.l1 * l1 + self.adv_weight * adv
        grads = tape.gradient(value, self.variables)
        self.opt.apply(grads)
        return {"loss": value, "rec": rec, "l1": l1, "adv": adv}

    @staticmethod
    def _train_mode(net: Any, h: tf.Tensor) -> tf.Tensor:
        """One network of the step on ``h`` in train mode (Keras: ``training=True``)."""
        return net(h, training=True)

    def __call__(
        self, x_in: np.ndarray, target: np.ndarray | None = None, weight: np.ndarray | None = None
    ) -> dict[str, float]:
        out = self.run(x_in, target, weight)
        return dict(zip(out, to_floats(list(out.values())), strict=True))

    def run(
        self, x_in: np.ndarray, target: np.ndarray | None = None, weight: np.ndarray | None = None
    ) -> dict[str, tf.Tensor]:
        """The step; its values as scalar tensors (no read-back)."""
        key = (target is not None, weight is not None)
        if key not in self._steps:  # one graph per combination of optional inputs
            self._steps[key] = tf.function(self._graph_step, reduce_retracing=True)
        args = (native(a, self.dtype) for a in (x_in, target, weight))
        return dict(self._steps[key](*args))


class DiscriminatorStep(_Step):
    def __init__(self, disc: KerasBuilt, optimizer: Optimizer) -> None:
        self.dtype = disc.dtype
        self.disc = disc.native
        self.variables = list(self.disc.trainable_variables)
        self.opt = make_optimizer(optimizer, self.variables)
        self._step = tf.function(self._graph_step, reduce_retracing=True)

    def _graph_step(self, real: tf.Tensor, fake: tf.Tensor) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            lr_ = self.disc(real, training=True)
            lf = self.disc(fake, training=True)
            value = bce_logits(lr_, 1.0) + bce_logits(lf, 0.0)
        grads = tape.gradient(value, self.variables)
        self.opt.apply(grads)
        return {
            "d_loss": value,
            "acc_real": tf.reduce_mean(tf.cast(lr_ > 0, self.dtype)),
            "acc_fake": tf.reduce_mean(tf.cast(lf < 0, self.dtype)),
        }

    def __call__(self, real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
        out = self.run(real, fake)
        return dict(zip(out, to_floats(list(out.values())), strict=True))

    def run(self, real: np.ndarray, fake: np.ndarray) -> dict[str, tf.Tensor]:
        """The step; its values as scalar tensors (no read-back)."""
        return dict(self._step(native(real, self.dtype), native(fake, self.dtype)))


def make_trainer(
    chain: list[KerasBuilt],
    loss: str,
    optimizer: Optimizer,
    frozen: Frozen = frozenset(),
    lr_mult: LrMult | None = None,
    tuned: bool = False,
) -> SupervisedStep:
    """``step(x, target) -> loss``: train-mode forward through ``chain``, backward, update.

    ``frozen`` layers: ``trainable=False`` (a frozen BatchNorm then runs in inference mode:
    running statistics used, not updated). ``lr_mult``: one optimizer per multiplier.
    ``tuned``: the step compiled with XLA (``jit_compile``; benchmarks' tuned variant).
    """
    return SupervisedStep(chain, loss, optimizer, frozen, lr_mult, tuned)


def make_generator_step(
    chain: list[KerasBuilt],
    optimizer: Optimizer,
    *,
    rec_weight: float = 1.0,
    l1: float = 0.0,
    disc: KerasBuilt | None = None,
    adv_weight: float = 0.0,
) -> GeneratorStep:
    """Reconstruction/generator step; only ``chain``'s variables are updated."""
    return GeneratorStep(
        chain, optimizer, rec_weight=rec_weight, l1=l1, disc=disc, adv_weight=adv_weight
    )


def make_discriminator_step(disc: KerasBuilt, optimizer: Optimizer) -> DiscriminatorStep:
    """Real labelled 1, fake labelled 0, BCE with logits summed; only ``disc`` updates."""
    return DiscriminatorStep(disc, optimizer)
