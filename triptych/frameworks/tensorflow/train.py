"""Training steps with ``tf.GradientTape`` inside ``tf.function``. Same function names in
every backend (see `triptych.frameworks.torch.train`). Inputs and 4-D targets/weights move to
NHWC at the boundary; every loss term is a mean, so the layout does not change its value.
"""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np

from triptych.common.recipe import Frozen, LrMult, Optimizer, check_loss
from triptych.frameworks.tensorflow.build import KerasBuilt, to_native_input
from triptych.frameworks.tensorflow.compat import keras, tf


def _optimizer(opt: Optimizer, variables: list[tf.Variable]) -> keras.optimizers.Optimizer:
    if opt.name == "sgd":
        out = keras.optimizers.SGD(learning_rate=opt.lr)
    else:
        out = keras.optimizers.Adam(
            learning_rate=opt.lr, beta_1=opt.betas[0], beta_2=opt.betas[1], epsilon=opt.eps
        )
    out.build(variables)  # so its state exists before the first step (and can be restored)
    return out


def _f32(x: np.ndarray | None) -> np.ndarray | None:
    if x is None:
        return None
    return to_native_input(np.asarray(x, np.float32))


def _bce_logits(logits: tf.Tensor, label: float) -> tf.Tensor:
    labels = tf.fill(tf.shape(logits), label)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


class _Step:
    opt: keras.optimizers.Optimizer

    def state(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, *[np.asarray(v.numpy()) for v in self.opt.variables])
        return buf.getvalue()

    def load_state(self, blob: bytes) -> None:
        with np.load(io.BytesIO(blob)) as f:
            values = [f[f"arr_{i}"] for i in range(len(f.files))]
        if len(values) != len(self.opt.variables):
            raise ValueError(
                f"optimizer state has {len(values)} tensors, the optimizer "
                f"{len(self.opt.variables)}"
            )
        for var, value in zip(self.opt.variables, values, strict=True):
            var.assign(value)


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
        self.groups = [
            (vs, _optimizer(replace(optimizer, lr=optimizer.lr * mult), vs))
            for mult, vs in groups.items()
            if vs and mult > 0
        ]
        if not self.groups:
            raise ValueError("every layer is frozen: nothing to train")
        self.variables = [v for vs, _ in self.groups for v in vs]
        self.opt = self.groups[0][1]
        # tuned: XLA compilation of the whole step (TensorFlow's recommended speed option)
        self._step = tf.function(self._graph_step, reduce_retracing=True, jit_compile=tuned)

    def state(self) -> bytes:  # every group's optimizer, in order
        buf = io.BytesIO()
        arrays = [np.asarray(v.numpy()) for _, opt in self.groups for v in opt.variables]
        np.savez(buf, *arrays)
        return buf.getvalue()

    def load_state(self, blob: bytes) -> None:
        with np.load(io.BytesIO(blob)) as f:
            values = [f[f"arr_{i}"] for i in range(len(f.files))]
        targets = [v for _, opt in self.groups for v in opt.variables]
        if len(values) != len(targets):
            raise ValueError(f"optimizer state has {len(values)} tensors, expected {len(targets)}")
        for var, value in zip(targets, values, strict=True):
            var.assign(value)

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
        grads = tape.gradient(value, self.variables)
        start = 0
        for vs, opt in self.groups:  # one optimizer per learning-rate multiplier
            opt.apply_gradients(zip(grads[start : start + len(vs)], vs, strict=True))
            start += len(vs)
        return value

    def __call__(self, x: np.ndarray, target: np.ndarray) -> float:
        t = np.asarray(target)
        t = t.astype(np.int64) if self.kind == "cross_entropy" else _f32(t)
        return float(self._step(_f32(x), t))


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
        self.models = [b.native for b in chain]
        self.disc = disc.native if disc is not None and adv_weight > 0 else None
        self.rec_weight, self.l1, self.adv_weight = rec_weight, l1, adv_weight
        self.variables = [v for m in self.models for v in m.trainable_variables]
        self.opt = _optimizer(optimizer, self.variables)
        self._steps: dict[tuple[bool, bool], object] = {}

    def _graph_step(
        self, x: tf.Tensor, target: tf.Tensor | None, weight: tf.Tensor | None
    ) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            h, code = x, None
            for i, m in enumerate(self.models):
                h = m(h, training=True)
                if i == 0 and len(self.models) > 1:
                    code = h
            zero = tf.constant(0.0)
            rec = zero
            if target is not None:
                sq = tf.square(h - target)
                rec = (
                    tf.reduce_mean(sq)
                    if weight is None
                    else (tf.reduce_sum(sq * weight) / tf.reduce_sum(weight))
                )
            l1 = tf.reduce_mean(tf.abs(code)) if (self.l1 > 0 and code is not None) else zero
            adv = _bce_logits(self.disc(h, training=True), 1.0) if self.disc is not None else zero
            value = self.rec_weight * rec + self.l1 * l1 + self.adv_weight * adv
        grads = tape.gradient(value, self.variables)
        self.opt.apply_gradients(zip(grads, self.variables, strict=True))
        return {"loss": value, "rec": rec, "l1": l1, "adv": adv}

    def __call__(
        self, x_in: np.ndarray, target: np.ndarray | None = None, weight: np.ndarray | None = None
    ) -> dict[str, float]:
        key = (target is not None, weight is not None)
        if key not in self._steps:  # one graph per combination of optional inputs
            self._steps[key] = tf.function(self._graph_step, reduce_retracing=True)
        out = self._steps[key](_f32(x_in), _f32(target), _f32(weight))
        return {k: float(v) for k, v in out.items()}


class DiscriminatorStep(_Step):
    def __init__(self, disc: KerasBuilt, optimizer: Optimizer) -> None:
        self.disc = disc.native
        self.variables = list(self.disc.trainable_variables)
        self.opt = _optimizer(optimizer, self.variables)
        self._step = tf.function(self._graph_step, reduce_retracing=True)

    def _graph_step(self, real: tf.Tensor, fake: tf.Tensor) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            lr_ = self.disc(real, training=True)
            lf = self.disc(fake, training=True)
            value = _bce_logits(lr_, 1.0) + _bce_logits(lf, 0.0)
        grads = tape.gradient(value, self.variables)
        self.opt.apply_gradients(zip(grads, self.variables, strict=True))
        return {
            "d_loss": value,
            "acc_real": tf.reduce_mean(tf.cast(lr_ > 0, tf.float32)),
            "acc_fake": tf.reduce_mean(tf.cast(lf < 0, tf.float32)),
        }

    def __call__(self, real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
        return {k: float(v) for k, v in self._step(_f32(real), _f32(fake)).items()}


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
