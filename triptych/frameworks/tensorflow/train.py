"""Training steps with ``tf.GradientTape`` inside ``tf.function``. Same function names in
every backend (see `triptych.frameworks.torch.train`). Inputs and 4-D targets/weights move to
NHWC at the boundary; every loss term is a mean, so the layout does not change its value.
``run(...)`` is the step returning its values as tensors without reading them back (the
training loop converts them in bulk with `to_floats` when it logs); a ``tf.Tensor`` input is
taken as already native (NHWC images, int64 labels, as `triptych.frameworks.tensorflow.speed`
makes them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from triptych.common import adam
from triptych.common.recipe import Frozen, LrMult, Optimizer, check_loss
from triptych.frameworks.tensorflow.build import KerasBuilt, set_dropout_masks, to_native_input
from triptych.frameworks.tensorflow.compat import keras, tf


def _keras_optimizer(opt: Optimizer, variables: list[tf.Variable]) -> keras.optimizers.Optimizer:
    if opt.name == "sgd":
        out = keras.optimizers.SGD(learning_rate=opt.lr)
    else:
        out = keras.optimizers.Adam(
            learning_rate=opt.lr, beta_1=opt.betas[0], beta_2=opt.betas[1], epsilon=opt.eps
        )
    out.build(variables)  # so its state exists before the first step (and can be restored)
    return out


class _KerasUpdate:
    """Keras' own optimizer (sgd, adam_native), one per learning-rate multiplier. State:
    every optimizer variable, in order, as ``keras.NNNN``."""

    def __init__(self, opt: Optimizer, variables: list[tf.Variable], mults: list[float]) -> None:
        by_mult: dict[float, list[int]] = {}
        for i, mult in enumerate(mults):
            by_mult.setdefault(mult, []).append(i)
        self.variables = variables
        self.groups = [
            (idx, _keras_optimizer(replace(opt, lr=opt.lr * m), [variables[i] for i in idx]))
            for m, idx in by_mult.items()
        ]

    def apply(self, grads: list[tf.Tensor | None]) -> None:
        for idx, o in self.groups:
            o.apply_gradients([(grads[i], self.variables[i]) for i in idx])

    def _slots(self) -> list[tf.Variable]:
        return [v for _, o in self.groups for v in o.variables]

    def state(self) -> dict[str, np.ndarray]:
        return {f"keras.{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(self._slots())}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        slots = self._slots()
        if sorted(state) != [f"keras.{i:04d}" for i in range(len(slots))]:
            raise ValueError(f"optimizer state has {len(state)} tensors, expected {len(slots)}")
        for i, var in enumerate(slots):
            var.assign(state[f"keras.{i:04d}"])


class _Adam:
    """triptych's Adam (`triptych.common.adam`), op by op as in the other backends; call
    `apply` inside the step's ``tf.function``. ``mults``: learning-rate multiplier per
    variable.

    The step counts live in one int64 vector (one count per variable, as the state names
    them). The scalars ``lr / (1 - b1**t)`` and ``sqrt(1 - b2**t)`` are computed once per
    learning rate when every updated variable has the same count (always, unless a loaded
    state says otherwise), else once per variable; either way with the same scalar ops on
    the same values, so the numbers are bitwise those of computing them per variable (a
    vectorised ``tf.pow`` would not be: its packet path rounds differently)."""

    def __init__(self, opt: Optimizer, variables: list[tf.Variable], mults: list[float]) -> None:
        self.variables = variables
        self.lrs = [opt.lr * m for m in mults]
        self.betas, self.eps = opt.betas, opt.eps

        def slot(v: tf.Variable) -> tf.Variable:
            return tf.Variable(tf.zeros(v.shape, tf.float32), trainable=False)

        self.m = [slot(v) for v in variables]
        self.v = [slot(v) for v in variables]
        self.t = tf.Variable(tf.zeros((len(variables),), tf.int64), trainable=False)

    def _scalars(self, t: tf.Tensor, lr: float) -> tuple[tf.Tensor, tf.Tensor]:
        """(step size, sqrt(bias2)) as float32 scalars for the int64 scalar count ``t``."""
        b1, b2 = self.betas
        f32, f64 = tf.float32, tf.float64
        tt = tf.cast(t, f64)
        step_size = tf.cast(lr / (1.0 - tf.pow(tf.constant(b1, f64), tt)), f32)
        bias2_sqrt = tf.cast(tf.sqrt(1.0 - tf.pow(tf.constant(b2, f64), tt)), f32)
        return step_size, bias2_sqrt

    def apply(self, grads: list[tf.Tensor | None]) -> None:
        live = [i for i, g in enumerate(grads) if g is not None]
        if not live:
            return
        n = len(self.variables)
        self.t.assign_add(tf.constant([1 if i in live else 0 for i in range(n)], tf.int64))
        counts = self.t.read_value()
        if len(live) < n:
            counts = tf.gather(counts, live)
        lrs = [self.lrs[i] for i in live]

        def shared() -> tuple[tf.Tensor, tf.Tensor]:
            one = {lr: self._scalars(counts[0], lr) for lr in dict.fromkeys(lrs)}
            return tf.stack([one[lr][0] for lr in lrs]), tf.stack([one[lr][1] for lr in lrs])

        def per_variable() -> tuple[tf.Tensor, tf.Tensor]:
            each = tf.unstack(counts, num=len(live))
            pairs = [self._scalars(t, lr) for t, lr in zip(each, lrs, strict=True)]
            return tf.stack([a for a, _ in pairs]), tf.stack([b for _, b in pairs])

        if len(live) == 1:
            sizes, bias2s = shared()
        else:
            same = tf.reduce_all(tf.equal(counts, counts[0]))
            sizes, bias2s = tf.cond(same, shared, per_variable)
        b1, b2 = self.betas
        f32 = tf.float32
        for k, step_size, bias2_sqrt in zip(
            live,
            tf.unstack(sizes, num=len(live)),
            tf.unstack(bias2s, num=len(live)),
            strict=True,
        ):
            g, p, m, v = grads[k], self.variables[k], self.m[k], self.v[k]
            m_new = m * tf.constant(b1, f32) + g * tf.constant(1 - b1, f32)
            v_new = v * tf.constant(b2, f32) + g * g * tf.constant(1 - b2, f32)
            m.assign(m_new)
            v.assign(v_new)
            denom = tf.sqrt(v_new) / bias2_sqrt + tf.constant(self.eps, f32)
            p.assign_sub(m_new / denom * step_size)

    def state(self) -> dict[str, np.ndarray]:
        out = {adam.STEP: np.asarray(self.t.numpy(), np.int64)}
        for i, (m, v) in enumerate(zip(self.m, self.v, strict=True)):
            out[adam.m_name(i)] = np.asarray(m.numpy(), np.float32)
            out[adam.v_name(i)] = np.asarray(v.numpy(), np.float32)
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        adam.check_state(state, [tuple(v.shape) for v in self.variables])
        for i, (m, v) in enumerate(zip(self.m, self.v, strict=True)):
            m.assign(state[adam.m_name(i)])
            v.assign(state[adam.v_name(i)])
        self.t.assign(np.asarray(state[adam.STEP], np.int64))


def _optimizer(
    opt: Optimizer, variables: list[tf.Variable], mults: list[float] | None = None
) -> _Adam | _KerasUpdate:
    """triptych's Adam for ``adam``, Keras' own optimizer for ``sgd``/``adam_native``."""
    mults = [1.0] * len(variables) if mults is None else mults
    return (_Adam if opt.name == "adam" else _KerasUpdate)(opt, variables, mults)


@dataclass(frozen=True)
class PreparedMasks:
    """One step's exact-Dropout masks ready for a supervised step's ``run_masked``:
    ``canonical`` as `triptych.common.dropout` drew them (network -> layer index -> NCHW
    float32 array), ``tensors`` the same in the native layout (`native_mask`), one float32
    tensor per Dropout layer of the step's chain, in chain order."""

    canonical: dict[str, dict[int, np.ndarray]]
    tensors: list[tf.Tensor]


def native_mask(built: KerasBuilt, i: int, mask: np.ndarray) -> np.ndarray:
    """A canonical Dropout mask (NCHW, canonical feature order) of layer ``i`` in the
    native layout (NHWC, the layout plan's feature permutation), as
    `build.set_dropout_masks` assigns it."""
    m = np.asarray(mask, np.float32)
    if m.ndim == 4:
        m = m.transpose(0, 2, 3, 1)
    elif (perm := built.plan.in_perm.get(i)) is not None:
        m = m[:, perm]
    return np.ascontiguousarray(m)


def _f32(x: np.ndarray | tf.Tensor | None) -> tf.Tensor | None:
    """A canonical float32 batch as a tensor in the native layout (a tensor passes as it
    is). A tensor, not the numpy array: a ``tf.function`` takes a tensor argument faster."""
    if x is None or isinstance(x, tf.Tensor):
        return x
    return tf.constant(to_native_input(np.asarray(x, np.float32)))


def to_floats(values: list[tf.Tensor | float]) -> list[float]:
    """Native scalars (what the steps' ``run`` returns) as Python floats, in one read-back;
    the same numbers ``float(v)`` gives one by one."""
    native = values and all(isinstance(v, tf.Tensor) for v in values)
    if native and len({v.dtype for v in values}) == 1:
        return [float(v) for v in tf.stack(values).numpy().tolist()]
    return [float(v) for v in values]


def _bce_logits(logits: tf.Tensor, label: float) -> tf.Tensor:
    labels = tf.fill(tf.shape(logits), label)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


class _Step:
    opt: _Adam | _KerasUpdate

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
        self.opt = _optimizer(optimizer, self.variables, [m for m, vs in kept for _ in vs])
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
        grads = tape.gradient(value, self.variables)
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
        return tf.constant(t.astype(np.int64)) if self.kind == "cross_entropy" else _f32(t)

    def run(self, x: np.ndarray | tf.Tensor, target: np.ndarray | tf.Tensor) -> tf.Tensor:
        """The step; the loss as a scalar tensor (no read-back)."""
        return self._step(_f32(x), self._target(target))

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
        return self._masked_step(_f32(x), self._target(target), prepared.tensors)


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
                h = self._train_mode(m, h)
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
            adv = (
                _bce_logits(self._train_mode(self.disc, h), 1.0) if self.disc is not None else zero
            )
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
        return dict(self._steps[key](_f32(x_in), _f32(target), _f32(weight)))


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
        self.opt.apply(grads)
        return {
            "d_loss": value,
            "acc_real": tf.reduce_mean(tf.cast(lr_ > 0, tf.float32)),
            "acc_fake": tf.reduce_mean(tf.cast(lf < 0, tf.float32)),
        }

    def __call__(self, real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
        out = self.run(real, fake)
        return dict(zip(out, to_floats(list(out.values())), strict=True))

    def run(self, real: np.ndarray, fake: np.ndarray) -> dict[str, tf.Tensor]:
        """The step; its values as scalar tensors (no read-back)."""
        return dict(self._step(_f32(real), _f32(fake)))


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
