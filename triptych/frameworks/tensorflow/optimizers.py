"""The TensorFlow backend's optimizers (Sonnet's ``adam`` too): triptych's Adam
(`triptych.common.adam`) op by op on ``tf.Variable``s, and Keras' own ``sgd``/``adam_native``.
Each exposes ``apply(grads)`` (called inside a step's ``tf.function``), ``state()`` and
``load_state(state)``. Every optimizer works in its variables' dtype (float32, or float64 for
a float64 build: moments, scalars and learning rate in float64 too).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import numpy as np

from triptych.common import adam
from triptych.common.recipe import Optimizer
from triptych.frameworks.tensorflow.compat import keras, tf


def dtype_of(variables: list[tf.Variable]) -> tf.DType:
    """The variables' (one build's: a single) float dtype as a ``tf.DType`` (a Keras
    variable's is a string); float32 when there are none."""
    return tf.as_dtype(variables[0].dtype) if variables else tf.float32


@contextmanager
def _floatx(dtype: tf.DType) -> Iterator[None]:
    """Keras' global ``floatx`` set to ``dtype`` while an optimizer is made (its learning
    rate variable takes ``floatx``: float64 steps need 0.01 in float64, not a float32 0.01
    cast up), then restored; nothing changes for float32 under the default ``floatx``."""
    before = keras.config.floatx()
    if dtype.name == before:
        yield
        return
    keras.config.set_floatx(dtype.name)
    try:
        yield
    finally:
        keras.config.set_floatx(before)


def _keras_optimizer(opt: Optimizer, variables: list[tf.Variable]) -> keras.optimizers.Optimizer:
    """Keras' SGD or Adam for ``variables``, its learning rate in their dtype."""
    with _floatx(dtype_of(variables)):
        if opt.name == "sgd":
            out = keras.optimizers.SGD(learning_rate=opt.lr)
        else:
            out = keras.optimizers.Adam(
                learning_rate=opt.lr, beta_1=opt.betas[0], beta_2=opt.betas[1], epsilon=opt.eps
            )
    out.build(variables)  # so its state exists before the first step (and can be restored)
    return out


class KerasUpdate:
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


class Adam:
    """triptych's Adam (`triptych.common.adam`), op by op as in the other backends; call
    `apply` inside the step's ``tf.function``. ``mults``: learning-rate multiplier per
    variable. Moments, scalars and constants are in the variables' dtype (float32; float64
    for a float64 build, its scalars then not rounded to float32).

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
        self.dtype = dtype_of(variables)

        def slot(v: tf.Variable) -> tf.Variable:
            return tf.Variable(tf.zeros(v.shape, self.dtype), trainable=False)

        self.m = [slot(v) for v in variables]
        self.v = [slot(v) for v in variables]
        self.t = tf.Variable(tf.zeros((len(variables),), tf.int64), trainable=False)

    def _scalars(self, t: tf.Tensor, lr: float) -> tuple[tf.Tensor, tf.Tensor]:
        """(step size, sqrt(bias2)) computed in float64 for the int64 scalar count ``t``,
        as scalars of the variables' dtype."""
        b1, b2 = self.betas
        f, f64 = self.dtype, tf.float64
        tt = tf.cast(t, f64)
        step_size = tf.cast(lr / (1.0 - tf.pow(tf.constant(b1, f64), tt)), f)
        bias2_sqrt = tf.cast(tf.sqrt(1.0 - tf.pow(tf.constant(b2, f64), tt)), f)
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
        f = self.dtype
        for k, step_size, bias2_sqrt in zip(
            live,
            tf.unstack(sizes, num=len(live)),
            tf.unstack(bias2s, num=len(live)),
            strict=True,
        ):
            g, p, m, v = grads[k], self.variables[k], self.m[k], self.v[k]
            m_new = m * tf.constant(b1, f) + g * tf.constant(1 - b1, f)
            v_new = v * tf.constant(b2, f) + g * g * tf.constant(1 - b2, f)
            m.assign(m_new)
            v.assign(v_new)
            denom = tf.sqrt(v_new) / bias2_sqrt + tf.constant(self.eps, f)
            p.assign_sub(m_new / denom * step_size)

    def state(self) -> dict[str, np.ndarray]:
        """Step counts (int64) and moments (the variables' dtype), `triptych.common.adam`."""
        out = {adam.STEP: np.asarray(self.t.numpy(), np.int64)}
        np_dtype = self.dtype.as_numpy_dtype
        for i, (m, v) in enumerate(zip(self.m, self.v, strict=True)):
            out[adam.m_name(i)] = np.asarray(m.numpy(), np_dtype)
            out[adam.v_name(i)] = np.asarray(v.numpy(), np_dtype)
        return out

    def _check(self, state: dict[str, np.ndarray]) -> None:
        """`adam.check_state`, its float32 moments the variables' dtype here."""
        shapes = [tuple(v.shape) for v in self.variables]
        if self.dtype == tf.float32:
            adam.check_state(state, shapes)
            return
        want = np.dtype(self.dtype.as_numpy_dtype)
        for name, arr in state.items():
            if name != adam.STEP and np.asarray(arr).dtype != want:
                raise ValueError(f"Adam state {name}: {np.asarray(arr).dtype}, expected {want}")
        adam.check_state(
            {k: v if k == adam.STEP else np.asarray(v, np.float32) for k, v in state.items()},
            shapes,
        )

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `state` returned; ValueError (one line) if it does not fit."""
        self._check(state)
        for i, (m, v) in enumerate(zip(self.m, self.v, strict=True)):
            m.assign(state[adam.m_name(i)])
            v.assign(state[adam.v_name(i)])
        self.t.assign(np.asarray(state[adam.STEP], np.int64))


def make_optimizer(
    opt: Optimizer, variables: list[tf.Variable], mults: list[float] | None = None
) -> Adam | KerasUpdate:
    """triptych's Adam for ``adam``, Keras' own optimizer for ``sgd``/``adam_native``."""
    mults = [1.0] * len(variables) if mults is None else mults
    return (Adam if opt.name == "adam" else KerasUpdate)(opt, variables, mults)
