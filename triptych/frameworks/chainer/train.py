"""Training steps with Chainer's define-by-run autograd. Same function names in every backend
(see `triptych.frameworks.torch.train`): ``make_trainer``, ``make_generator_step``,
``make_discriminator_step``; each step object has ``state()`` / ``load_state()`` (names of
`triptych.common.adam`) and ``run(...)`` returning its values as 0-d numpy arrays (Chainer
runs synchronously, so there is nothing to wait for; `to_floats` converts them).

Optimizers: ``adam`` is triptych's Adam (`TriptychAdam`: PyTorch's formula, op by op on the
parameters' numpy arrays, each parameter's learning-rate multiplier respected); ``sgd`` and
``adam_native`` are Chainer's own ``optimizers.SGD`` / ``optimizers.Adam`` (whose epsilon sits
outside the bias correction, as Gluon's does).

A float64 build (``built.dtype``) trains in float64 throughout: inputs, targets, losses,
optimizer state and scalars (each step reads the dtype off its first network).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from triptych.common import adam
from triptych.common import spec as S
from triptych.common.recipe import Frozen, LrMult, Optimizer, check_loss
from triptych.frameworks.chainer.build import ChainerBuilt, ChainerNet, holder_params
from triptych.frameworks.chainer.compat import F, chainer
from triptych.frameworks.chainer.layers.norm import BatchNormalization


class TriptychAdam:
    """triptych's Adam on Chainer parameters, in place; a parameter without a gradient in
    a step is skipped (m, v, t kept). m and v are of the parameters' dtype."""

    def __init__(self, params: list[chainer.Parameter], lr_mults: list[float], opt: Optimizer):
        self.params, self.lr_mults = params, lr_mults
        self.lr, self.betas, self.eps = opt.lr, opt.betas, opt.eps
        self.dtype = params[0].dtype
        self.m = [np.zeros(p.shape, self.dtype) for p in params]
        self.v = [np.zeros(p.shape, self.dtype) for p in params]
        self.t = [0] * len(params)

    def update(self) -> None:
        b1, b2 = self.betas
        for i, p in enumerate(self.params):
            g = p.grad
            if g is None:
                continue
            self.t[i] += 1
            m, v = self.m[i], self.v[i]
            # PyTorch's order of operations, each rounded to float32 as it would be with
            # temporaries, but in two buffers (a temporary per operation cost +7 % on ResNet-18)
            tmp = np.multiply(g, 1 - b1, dtype=self.dtype)
            m *= b1
            m += tmp
            np.multiply(g, g, out=tmp)
            tmp *= 1 - b2
            v *= b2
            v += tmp
            step_size, bias2_sqrt = adam.scalars(self.lr * self.lr_mults[i], b1, b2, self.t[i])
            np.sqrt(v, out=tmp)
            tmp /= bias2_sqrt
            tmp += self.eps
            np.divide(m, tmp, out=tmp)
            tmp *= self.dtype.type(step_size)
            p.array -= tmp

    def state(self) -> dict[str, np.ndarray]:
        out = {adam.STEP: np.array(self.t, np.int64)}
        for i in range(len(self.params)):
            out[adam.m_name(i)] = self.m[i].copy()
            out[adam.v_name(i)] = self.v[i].copy()
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        check_state(state, [tuple(p.shape) for p in self.params], self.dtype)
        self.t = [int(t) for t in state[adam.STEP]]
        self.m = [np.array(state[adam.m_name(i)], self.dtype) for i in range(len(self.t))]
        self.v = [np.array(state[adam.v_name(i)], self.dtype) for i in range(len(self.t))]


def check_state(state: dict[str, np.ndarray], shapes: list[tuple[int, ...]], dtype: Any) -> None:
    """`adam.check_state` for moments of ``dtype`` (float32 or float64)."""
    if np.dtype(dtype) != np.float32:
        wrong = [k for k, a in state.items() if k != adam.STEP and a.dtype != dtype]
        if wrong:
            raise ValueError(f"Adam state {wrong[0]}: {state[wrong[0]].dtype}, expected {dtype}")
        state = {k: a if k == adam.STEP else a.astype(np.float32) for k, a in state.items()}
    adam.check_state(state, shapes)


class NativeOptimizer:
    """Chainer's own optimizer (``SGD`` or ``Adam``) as one update rule per parameter (how
    a Chainer optimizer runs them), each with its learning-rate multiplier; a parameter
    without a gradient in a step is skipped."""

    def __init__(self, params: list[chainer.Parameter], lr_mults: list[float], opt: Optimizer):
        self.params, self.dtype = params, params[0].dtype
        self.adam = opt.name != "sgd"
        self.rules = []
        for mult in lr_mults:
            if self.adam:
                b1, b2 = opt.betas
                native = chainer.optimizers.Adam(
                    alpha=opt.lr * mult, beta1=b1, beta2=b2, eps=opt.eps
                )
            else:
                native = chainer.optimizers.SGD(lr=opt.lr * mult)
            self.rules.append(native.create_update_rule())

    def update(self) -> None:
        for p, rule in zip(self.params, self.rules, strict=True):
            if p.grad is not None:
                rule.update(p)

    def state(self) -> dict[str, np.ndarray]:
        """Adam's m, v and step per parameter; SGD: none."""
        if not self.adam:
            return {}
        out = {adam.STEP: np.array([r.t for r in self.rules], np.int64)}
        for i, (p, r) in enumerate(zip(self.params, self.rules, strict=True)):
            st = r.state or {}
            for name, key in ((adam.m_name(i), "m"), (adam.v_name(i), "v")):
                out[name] = np.array(st.get(key, np.zeros(p.shape, self.dtype)), self.dtype)
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        if not self.adam:
            if state:
                raise ValueError(f"SGD has no state; got {len(state)} tensors")
            return
        check_state(state, [tuple(p.shape) for p in self.params], self.dtype)
        for i, r in enumerate(self.rules):
            r.t = int(state[adam.STEP][i])
            r._state = {  # Chainer allocates it lazily at the first update otherwise
                "m": np.array(state[adam.m_name(i)], self.dtype),
                "v": np.array(state[adam.v_name(i)], self.dtype),
            }


def _optimizer(
    params: list[chainer.Parameter], lr_mults: list[float], opt: Optimizer
) -> TriptychAdam | NativeOptimizer:
    if not params:
        raise ValueError("every layer is frozen: nothing to train")
    if opt.name == "adam":
        return TriptychAdam(params, lr_mults, opt)
    return NativeOptimizer(params, lr_mults, opt)


def to_floats(values: list[Any]) -> list[float]:
    """Native scalars (what the steps' ``run`` returns) as Python floats."""
    return [float(getattr(v, "array", v)) for v in values]


def _a(x: Any, dtype: Any = np.float32) -> Any:
    """A batch as a contiguous array of the network's ``dtype``; Variables pass as they are."""
    if x is None or isinstance(x, chainer.Variable):
        return x
    return np.ascontiguousarray(x, dtype)


def _bce_with_logits(logits: Any, target: Any) -> Any:
    """Mean binary cross-entropy on logits with float targets (softplus(x) - x·t, stable;
    Chainer's ``sigmoid_cross_entropy`` takes integer labels only)."""
    return F.mean(F.softplus(logits) - logits * target)


def _scalar(x: Any, dtype: Any = np.float32) -> np.ndarray:
    return np.asarray(x.array if isinstance(x, chainer.Variable) else x, dtype)


class _Step:
    opt: TriptychAdam | NativeOptimizer
    nets: list[ChainerNet]
    dtype: np.dtype

    def state(self) -> dict[str, np.ndarray]:
        """Adam's m, v and step per parameter (`triptych.common.adam` names); SGD: none."""
        return self.opt.state()

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `state` returned; ValueError (one line) if it does not fit."""
        self.opt.load_state(state)

    def _backward(self, value: Any) -> None:
        for net in self.nets:
            net.cleargrads()
        value.backward()
        self.opt.update()


class SupervisedStep(_Step):
    def __init__(
        self,
        chain: list[ChainerBuilt],
        loss: str,
        optimizer: Optimizer,
        frozen: Frozen = frozenset(),
        lr_mult: LrMult | None = None,
    ) -> None:
        self.kind = check_loss(loss)
        self.nets = [b.native for b in chain]
        self.dtype = np.dtype(chain[0].dtype)
        self.input_dtype = np.dtype(S.numpy_input_dtype(chain[0].network, chain[0].dtype))
        params: list[chainer.Parameter] = []
        mults: list[float] = []
        for b in chain:
            for i, holder in b.native.holders.items():
                key = (b.network.name, i)
                if isinstance(holder, BatchNormalization):  # a frozen one runs in eval mode
                    holder.frozen = key in frozen
                if key in frozen:  # not updated
                    continue
                ps = holder_params(b.network.infos[i].layer, holder)
                params += ps
                mults += [(lr_mult or {}).get(key, 1.0)] * len(ps)
        self.opt = _optimizer(params, mults, optimizer)

    def __call__(self, x: np.ndarray, target: np.ndarray) -> float:
        return float(self.run(x, target))

    def run(self, x: Any, target: Any) -> np.ndarray:
        """The step; the loss as a 0-d array."""
        with chainer.using_config("train", True):
            h = _a(x, self.input_dtype)
            for net in self.nets:
                h = net(h)
            t = np.asarray(getattr(target, "array", target))
            if self.kind == "mse":
                value = F.mean_squared_error(h, t.astype(self.dtype, copy=False))
            elif self.kind == "cross_entropy":
                value = F.softmax_cross_entropy(h, t.astype(np.int32))
            else:
                value = _bce_with_logits(h, t.astype(self.dtype, copy=False))
        self._backward(value)
        return _scalar(value, self.dtype)


class GeneratorStep(_Step):
    def __init__(
        self,
        chain: list[ChainerBuilt],
        optimizer: Optimizer,
        *,
        rec_weight: float,
        l1: float,
        disc: ChainerBuilt | None,
        adv_weight: float,
    ) -> None:
        self.nets = [b.native for b in chain]
        self.dtype = np.dtype(chain[0].dtype)
        self.disc = disc.native if disc is not None and adv_weight > 0 else None
        self.rec_weight, self.l1, self.adv_weight = rec_weight, l1, adv_weight
        params = [p for b in chain for p in b.params_in_order()]
        self.opt = _optimizer(params, [1.0] * len(params), optimizer)

    def __call__(
        self, x_in: np.ndarray, target: np.ndarray | None = None, weight: np.ndarray | None = None
    ) -> dict[str, float]:
        out = self.run(x_in, target, weight)
        return dict(zip(out, to_floats(list(out.values())), strict=True))

    def run(self, x_in: Any, target: Any = None, weight: Any = None) -> dict[str, np.ndarray]:
        """The step; its values as 0-d arrays."""
        dt = self.dtype
        zero = dt.type(0.0)
        with chainer.using_config("train", True):
            h, code = _a(x_in, dt), None
            for i, net in enumerate(self.nets):
                h = net(h)
                if i == 0 and len(self.nets) > 1:
                    code = h
            rec: Any = zero
            if target is not None:
                sq = (h - _a(target, dt)) ** 2
                w = _a(weight, dt)
                rec = F.mean(sq) if w is None else F.sum(sq * w) / dt.type(np.sum(w))
            l1: Any = F.mean(F.absolute(code)) if (self.l1 > 0 and code is not None) else zero
            adv: Any = zero
            if self.disc is not None:
                logits = self.disc(h)
                adv = _bce_with_logits(logits, np.ones(logits.shape, dt))
            value = self.rec_weight * rec + self.l1 * l1 + self.adv_weight * adv
        if self.disc is not None:
            self.disc.cleargrads()
        self._backward(value)
        values = {"loss": value, "rec": rec, "l1": l1, "adv": adv}
        return {k: _scalar(v, dt) for k, v in values.items()}


class DiscriminatorStep(_Step):
    def __init__(self, disc: ChainerBuilt, optimizer: Optimizer) -> None:
        self.disc = disc.native
        self.nets = [self.disc]
        self.dtype = np.dtype(disc.dtype)
        params = disc.params_in_order()
        self.opt = _optimizer(params, [1.0] * len(params), optimizer)

    def __call__(self, real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
        out = self.run(real, fake)
        return dict(zip(out, to_floats(list(out.values())), strict=True))

    def run(self, real: Any, fake: Any) -> dict[str, np.ndarray]:
        """The step; its values as 0-d arrays."""
        with chainer.using_config("train", True):
            dt = self.dtype
            lr_, lf = self.disc(_a(real, dt)), self.disc(_a(fake, dt))
            loss_real = _bce_with_logits(lr_, np.ones(lr_.shape, dt))
            loss_fake = _bce_with_logits(lf, np.zeros(lf.shape, dt))
            value = loss_real + loss_fake
        self._backward(value)
        return {
            "d_loss": _scalar(value, self.dtype),
            "acc_real": np.float32(np.mean(lr_.array > 0)),
            "acc_fake": np.float32(np.mean(lf.array < 0)),
        }


def make_trainer(
    chain: list[ChainerBuilt],
    loss: str,
    optimizer: Optimizer,
    frozen: Frozen = frozenset(),
    lr_mult: LrMult | None = None,
    tuned: bool = False,
) -> SupervisedStep:
    """``step(x, target) -> loss``: train-mode forward through ``chain``, backward, update.

    ``frozen`` layers are not updated and, for BatchNorm, run in eval mode (running
    statistics used, not updated). ``lr_mult``: per-layer learning-rate multipliers.
    ``tuned`` has no Chainer variant (numpy on CPU has no faster path to switch on).
    """
    return SupervisedStep(chain, loss, optimizer, frozen, lr_mult)


def make_generator_step(
    chain: list[ChainerBuilt],
    optimizer: Optimizer,
    *,
    rec_weight: float = 1.0,
    l1: float = 0.0,
    disc: ChainerBuilt | None = None,
    adv_weight: float = 0.0,
) -> GeneratorStep:
    """Reconstruction/generator step; only ``chain``'s parameters are updated."""
    return GeneratorStep(
        chain, optimizer, rec_weight=rec_weight, l1=l1, disc=disc, adv_weight=adv_weight
    )


def make_discriminator_step(disc: ChainerBuilt, optimizer: Optimizer) -> DiscriminatorStep:
    """Real labelled 1, fake labelled 0, BCE with logits summed; only ``disc`` updates."""
    return DiscriminatorStep(disc, optimizer)
