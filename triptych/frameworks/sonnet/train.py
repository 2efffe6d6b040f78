"""Training steps with ``tf.GradientTape`` inside ``tf.function``, over Sonnet modules. Same
function names in every backend (see `triptych.frameworks.torch.train`). Inputs and 4-D
targets/weights move to NHWC at the boundary; every loss term is a mean, so the layout does
not change its value.

Optimizers: ``adam`` is triptych's one-formula Adam (`triptych.common.adam`), the TensorFlow
backend's op-by-op implementation (plain TensorFlow on ``tf.Variable``s, so it is Sonnet's
too); ``sgd`` and ``adam_native`` are Sonnet's own ``snt.optimizers.SGD``/``Adam``. Every
optimizer exposes ``apply(grads)``, called inside the step's ``tf.function`` (the data-parallel
engine wraps it, `triptych.frameworks.tensorflow.distributed.attach`).

``run(...)`` is each step returning its values as scalar tensors without reading them back
(the training loop converts them in bulk with `to_floats`, TensorFlow's, when it logs); a
``tf.Tensor`` input is taken as it is (already NHWC). `hand_train_step` is the textbook
Sonnet loop the harness-overhead measurement compares against. Steps run in their networks'
dtype (``built.dtype``, float32 or float64), as the TensorFlow backend's do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from triptych.common.recipe import Frozen, LrMult, Optimizer, check_loss
from triptych.frameworks.sonnet.build import SonnetBuilt, set_dropout_masks
from triptych.frameworks.sonnet.compat import snt, tf
from triptych.frameworks.sonnet.layers.norm import TorchBatchNorm
from triptych.frameworks.tensorflow import train as tf_train
from triptych.frameworks.tensorflow.optimizers import Adam, dtype_of
from triptych.frameworks.tensorflow.shared import (
    PreparedMasks,
    bce_logits,
    dense_grads,
    native,
    native_mask,
    to_floats,
)

__all__ = [
    "hand_train_step",
    "make_discriminator_step",
    "make_generator_step",
    "make_trainer",
    "to_floats",
]


class SonnetUpdate:
    """Sonnet's own optimizer (sgd, adam_native), one per learning-rate multiplier. State:
    Sonnet Adam's step, m and v per group, in order, as ``sonnet.NNNN`` (SGD has none).
    Hyperparameters are Python floats for float32 variables (as ever); for float64 ones
    float64 constants (Sonnet ``tf.cast``s a Python float through float32)."""

    def __init__(self, opt: Optimizer, variables: list[tf.Variable], mults: list[float]) -> None:
        by_mult: dict[float, list[int]] = {}
        for i, mult in enumerate(mults):
            by_mult.setdefault(mult, []).append(i)
        self.variables = variables
        self.groups = []
        dtype = dtype_of(variables)

        def h(value: float) -> float | tf.Tensor:
            return value if dtype == tf.float32 else tf.constant(value, dtype)

        for m, idx in by_mult.items():
            if opt.name == "sgd":
                o = snt.optimizers.SGD(learning_rate=h(opt.lr * m))
            else:
                b1, b2 = opt.betas
                o = snt.optimizers.Adam(h(opt.lr * m), beta1=h(b1), beta2=h(b2), epsilon=h(opt.eps))
                o._initialize([variables[i] for i in idx])  # state exists before step 1
            self.groups.append((idx, o))

    def apply(self, grads: list[tf.Tensor | None]) -> None:
        for idx, o in self.groups:
            o.apply([grads[i] for i in idx], [self.variables[i] for i in idx])

    def _slots(self) -> list[tf.Variable]:
        out: list[tf.Variable] = []
        for _, o in self.groups:
            if isinstance(o, snt.optimizers.Adam):
                out += [o.step, *o.m, *o.v]
        return out

    def state(self) -> dict[str, np.ndarray]:
        return {f"sonnet.{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(self._slots())}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        slots = self._slots()
        if sorted(state) != [f"sonnet.{i:04d}" for i in range(len(slots))]:
            raise ValueError(f"optimizer state has {len(state)} tensors, expected {len(slots)}")
        for i, var in enumerate(slots):
            var.assign(state[f"sonnet.{i:04d}"])


def _optimizer(
    opt: Optimizer, variables: list[tf.Variable], mults: list[float] | None = None
) -> Adam | SonnetUpdate:
    """triptych's Adam for ``adam``, Sonnet's own optimizer for ``sgd``/``adam_native``."""
    mults = [1.0] * len(variables) if mults is None else mults
    return (Adam if opt.name == "adam" else SonnetUpdate)(opt, variables, mults)


def _chain_variables(chain: list[SonnetBuilt]) -> list[tf.Variable]:
    return [v for b in chain for v in b.variables_in_order()]


class _Step:
    opt: Adam | SonnetUpdate
    #: the networks' dtype ("float32" or "float64"), what numpy inputs are cast to
    dtype: str = "float32"

    def state(self) -> dict[str, np.ndarray]:
        """The optimizer state as named arrays (`triptych.common.adam`; Sonnet's own:
        ``sonnet.NNNN``)."""
        return self.opt.state()

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `state` returned; ValueError (one line) if it does not fit."""
        self.opt.load_state(state)


class SupervisedStep(_Step):
    def __init__(
        self,
        chain: list[SonnetBuilt],
        loss: str,
        optimizer: Optimizer,
        frozen: Frozen = frozenset(),
        lr_mult: LrMult | None = None,
        tuned: bool = False,
    ) -> None:
        self.kind = check_loss(loss)
        self.dtype = chain[0].dtype
        self.input_dtype = chain[0].input_dtype  # the build's dtype, or int64 token ids
        self.nets = [b.native for b in chain]
        variables, mults = [], []
        for b in chain:
            for i, holder in b.holders.items():
                key = (b.network.name, i)
                if key in frozen:  # no update; a frozen BN uses its running statistics
                    if isinstance(holder, TorchBatchNorm):
                        holder.frozen = True
                    continue
                mult = (lr_mult or {}).get(key, 1.0)
                if mult > 0:  # a multiplier of 0 keeps the parameters (still train mode)
                    group = b.variables_of(i)
                    variables += group
                    mults += [mult] * len(group)
        if not variables:
            raise ValueError("every layer is frozen: nothing to train")
        self.variables = variables
        self.opt = _optimizer(optimizer, variables, mults)
        # tuned: XLA compilation of the whole step (TensorFlow's recommended speed option)
        self._step = tf.function(self._graph_step, reduce_retracing=True, jit_compile=tuned)
        self.dropouts = [(b, i, mod) for b in chain for i, mod in b.dropouts.items()]
        self._masked_step = tf.function(
            self._graph_step_masked, reduce_retracing=True, jit_compile=tuned
        )

    def _graph_step(self, x: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            h = x
            for net in self.nets:
                h = net(h, is_training=True)
            if self.kind == "mse":
                value = tf.reduce_mean(tf.square(h - target))
            elif self.kind == "cross_entropy":
                value = tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(
                        labels=tf.cast(target, tf.int64), logits=h
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
        """`_graph_step` with each Dropout module multiplying by its mask, an input of this
        graph (statically shaped: the graph is specialised to it, nothing is assigned)."""
        mods = [mod for _, _, mod in self.dropouts]
        for mod, mask in zip(mods, masks, strict=True):
            mod.mask_input = mask  # read while this graph traces
        try:
            return self._graph_step(x, target)
        finally:
            for mod in mods:
                mod.mask_input = None

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
        them fastest: NHWC / permuted, one ``tf.Tensor`` per Dropout module of the chain.
        Safe on another thread (`fit` prepares the next step's while a step runs)."""
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
        """`run` with exact Dropout, the masks (canonical, or from `prepare_masks`) inputs
        of the step's graph (see the TensorFlow backend's ``SupervisedStep.run_masked``;
        bitwise the numbers of `build.set_dropout_masks` before `run`)."""
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


class GeneratorStep(tf_train.GeneratorStep):
    """TensorFlow's reconstruction / generator step (the same graph, op for op) on Sonnet
    modules, which take ``is_training``, with Sonnet's optimizers for ``sgd``/``adam_native``."""

    def __init__(
        self,
        chain: list[SonnetBuilt],
        optimizer: Optimizer,
        *,
        rec_weight: float,
        l1: float,
        disc: SonnetBuilt | None,
        adv_weight: float,
    ) -> None:
        self.dtype = chain[0].dtype
        self.models = [b.native for b in chain]
        self.disc = disc.native if disc is not None and adv_weight > 0 else None
        self.rec_weight, self.l1, self.adv_weight = rec_weight, l1, adv_weight
        self.variables = _chain_variables(chain)
        self.opt = _optimizer(optimizer, self.variables)
        self._steps: dict[tuple[bool, bool], object] = {}

    @staticmethod
    def _train_mode(net: Any, h: tf.Tensor) -> tf.Tensor:
        """One Sonnet module on ``h`` in train mode (``is_training=True``)."""
        return net(h, is_training=True)


class DiscriminatorStep(_Step):
    def __init__(self, disc: SonnetBuilt, optimizer: Optimizer) -> None:
        self.dtype = disc.dtype
        self.disc = disc.native
        self.variables = disc.variables_in_order()
        self.opt = _optimizer(optimizer, self.variables)
        self._step = tf.function(self._graph_step, reduce_retracing=True)

    def _graph_step(self, real: tf.Tensor, fake: tf.Tensor) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            lr_ = self.disc(real, is_training=True)
            lf = self.disc(fake, is_training=True)
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
    chain: list[SonnetBuilt],
    loss: str,
    optimizer: Optimizer,
    frozen: Frozen = frozenset(),
    lr_mult: LrMult | None = None,
    tuned: bool = False,
) -> SupervisedStep:
    """``step(x, target) -> loss``: train-mode forward through ``chain``, backward, update.

    ``frozen`` layers: not updated (a frozen BatchNorm then uses its running statistics,
    not updated). ``lr_mult``: one Sonnet optimizer (or Adam learning rate) per multiplier.
    ``tuned``: the step compiled with XLA (``jit_compile``; benchmarks' tuned variant).
    """
    return SupervisedStep(chain, loss, optimizer, frozen, lr_mult, tuned)


def make_generator_step(
    chain: list[SonnetBuilt],
    optimizer: Optimizer,
    *,
    rec_weight: float = 1.0,
    l1: float = 0.0,
    disc: SonnetBuilt | None = None,
    adv_weight: float = 0.0,
) -> GeneratorStep:
    """Reconstruction/generator step; only ``chain``'s variables are updated."""
    return GeneratorStep(
        chain, optimizer, rec_weight=rec_weight, l1=l1, disc=disc, adv_weight=adv_weight
    )


def make_discriminator_step(disc: SonnetBuilt, optimizer: Optimizer) -> DiscriminatorStep:
    """Real labelled 1, fake labelled 0, BCE with logits summed; only ``disc`` updates."""
    return DiscriminatorStep(disc, optimizer)


def hand_train_step(
    chain: list[SonnetBuilt], loss: str = "cross_entropy", lr: float = 1e-4
) -> Callable[[np.ndarray, np.ndarray], tf.Tensor]:
    """A hand-written Sonnet loop's step on a numpy batch (the yardstick of the
    harness-overhead measurement, `triptych.bench.overhead`): tensors from numpy (images to
    NHWC), a ``tf.function`` with GradientTape, ``snt.optimizers.Adam(lr, epsilon=1e-8)``,
    ``loss`` "cross_entropy" (integer labels, logits) or "mse"; returns the loss tensor, not
    read back (a loop reads it when it logs)."""
    nets, dtype = [b.native for b in chain], chain[0].dtype
    variables = [v for net in nets for v in net.trainable_variables]
    opt = snt.optimizers.Adam(lr, epsilon=1e-8)

    @tf.function
    def graph_step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            h = x
            for net in nets:
                h = net(h, is_training=True)
            if loss == "cross_entropy":
                value = tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=h)
                )
            else:
                value = tf.reduce_mean(tf.square(h - y))
        opt.apply(tape.gradient(value, variables), variables)
        return value

    def step(x: np.ndarray, y: np.ndarray) -> tf.Tensor:
        target = tf.constant(y) if loss == "cross_entropy" else native(y, dtype)
        return graph_step(native(x, chain[0].input_dtype), target)

    return step
