"""Training steps with ``autograd.record`` and Gluon Trainers. Same function names in every
backend (see `triptych.frameworks.torch.train`).

MXNet's BatchNorm updates running statistics during ``backward``, so they follow the step.
Losses are batch means already, so ``Trainer.step(1)``. ``adam`` is triptych's Adam
(`triptych.common.adam` on MXNet's fused ``adam_update``, each parameter's ``lr_mult``
respected); ``sgd`` and
``adam_native`` use a Gluon Trainer. ``run(...)`` is the step returning its values as
NDArrays without waiting for them (MXNet runs asynchronously; the training loop converts them
in bulk with `to_floats` when it logs); an NDArray input is used as it is.

float64 builds train in float64 throughout; their ``sgd`` and ``adam`` run op by op in
NDArray ops with float64 scalars (`ExactSGD`, `TriptychAdam`'s float64 path): MXNet's fused
``sgd_update``/``adam_update`` take their scalars as float32.
"""

from __future__ import annotations

import math

import numpy as np

from triptych.common import adam
from triptych.common import spec as S
from triptych.common.recipe import Frozen, LrMult, Optimizer, check_loss
from triptych.frameworks.mxnet.build import GluonBuilt
from triptych.frameworks.mxnet.compat import mx

nd = mx.nd


class TriptychAdam:
    """triptych's Adam on MXNet's fused ``adam_update`` (one kernel per parameter, m and v
    updated in place); ``step(1)`` like a Trainer. A parameter whose gradient was not
    refreshed by ``backward`` since the last step is skipped (m, v, t kept).

    The fused kernel computes ``m = b1*m + (1-b1)*g``, ``v = b2*v + (1-b2)*g*g`` with
    ``1 - b`` formed in float32 from float32 ``b`` and ``w -= lr' * m / (sqrt(v) + eps')``.
    triptych's update ``m / (sqrt(v)/bias2_sqrt + eps) * step_size`` is, in real numbers,
    ``lr' = step_size * bias2_sqrt`` and ``eps' = eps * bias2_sqrt``. The kernel's moment
    coefficients differ from triptych's ``float32(1 - b)`` by the constants ``c1``, ``c2``
    (`moment_scales`; 1 + 2.4e-7 and 1 - 1.3e-5 at betas (0.9, 0.999)), so its m and v are
    ``c1`` and ``c2`` times triptych's; ``lr'`` and ``eps'`` take ``sqrt(c2) / c1`` and
    ``sqrt(c2)`` so that the update is triptych's. What remains is float32 rounding in
    another order (level-4 parity holds; not bitwise the op-by-op formula). ``state()``
    holds the kernel's m and v as they are, so a checkpoint resumes bitwise.

    In float64 (``dtype``) the kernel's float32 scalars would show, so the update runs op
    by op in PyTorch's order (`triptych.common.adam`) with float64 scalars."""

    def __init__(self, params: list, opt: Optimizer, dtype: str = "float32") -> None:
        self.params, self.lr, self.dtype = params, opt.lr, dtype
        self.betas, self.eps = opt.betas, opt.eps
        self.m = [nd.zeros(p.shape, dtype=dtype) for p in params]
        self.v = [nd.zeros(p.shape, dtype=dtype) for p in params]
        self.t = [0] * len(params)
        self._kernel_args: dict[tuple[float, int], dict[str, float]] = {}

    def kernel_args(self, lr: float, t: int) -> dict[str, float]:
        """``adam_update``'s scalars for learning rate ``lr`` at step ``t`` (cached)."""
        key = (lr, t)
        args = self._kernel_args.get(key)
        if args is None:
            b1, b2 = self.betas
            f = np.float32
            step_size, bias2_sqrt = adam.scalars(lr, b1, b2, t)
            # triptych rounds each scalar to float32 once; fold those values
            s, b, eps = float(f(step_size)), float(f(bias2_sqrt)), float(f(self.eps))
            c1, c2 = moment_scales(b1, b2)
            args = {
                "lr": s * b * math.sqrt(c2) / c1,
                "epsilon": eps * b * math.sqrt(c2),
                "beta1": b1,
                "beta2": b2,
                "wd": 0.0,
                "rescale_grad": 1.0,
            }
            if len(self._kernel_args) > 4096:
                self._kernel_args.clear()
            self._kernel_args[key] = args
        return args

    def step(self, batch_size: int = 1) -> None:
        """One update; ``batch_size`` must be 1 (losses are batch means)."""
        if batch_size != 1:
            raise ValueError(f"triptych's Adam takes step(1) (losses are means), got {batch_size}")
        update = nd.adam_update
        for i, p in enumerate(self.params):
            w = p.data()
            if not w._fresh_grad:
                continue
            self.t[i] += 1
            if self.dtype == "float32":
                args = self.kernel_args(self.lr * p.lr_mult, self.t[i])
                update(w, p.grad(), self.m[i], self.v[i], out=w, **args)
            else:
                self._exact_update(w, p.grad(), i, self.lr * p.lr_mult)
            w._fresh_grad = False

    def _exact_update(self, w: nd.NDArray, g: nd.NDArray, i: int, lr: float) -> None:
        """triptych's formula op by op, scalars in float64 (the float64 path)."""
        b1, b2 = self.betas
        m, v = self.m[i], self.v[i]
        m[:] = m * b1 + g * (1 - b1)
        v[:] = v * b2 + (g * g) * (1 - b2)
        step_size, bias2_sqrt = adam.scalars(lr, b1, b2, self.t[i])
        w[:] = w - (m / (nd.sqrt(v) / bias2_sqrt + self.eps)) * step_size

    def state(self) -> dict[str, np.ndarray]:
        out = {adam.STEP: np.array(self.t, np.int64)}
        for i, (m, v) in enumerate(zip(self.m, self.v, strict=True)):
            out[adam.m_name(i)] = m.asnumpy().astype(self.dtype)
            out[adam.v_name(i)] = v.asnumpy().astype(self.dtype)
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        check_state(state, [tuple(p.shape) for p in self.params], self.dtype)
        self.t = [int(t) for t in state[adam.STEP]]
        n, dtype = len(self.t), self.dtype
        self.m = [nd.array(state[adam.m_name(i)], dtype=dtype) for i in range(n)]
        self.v = [nd.array(state[adam.v_name(i)], dtype=dtype) for i in range(n)]


def check_state(state: dict[str, np.ndarray], shapes: list[tuple[int, ...]], dtype: str) -> None:
    """`adam.check_state` for moments of ``dtype`` (float32 or float64)."""
    if dtype != "float32":
        wrong = [k for k, a in state.items() if k != adam.STEP and a.dtype != dtype]
        if wrong:
            raise ValueError(f"Adam state {wrong[0]}: {state[wrong[0]].dtype}, expected {dtype}")
        state = {k: a if k == adam.STEP else a.astype(np.float32) for k, a in state.items()}
    adam.check_state(state, shapes)


class ExactSGD:
    """Plain SGD op by op with a float64 learning rate (float64 builds): ``w -= lr * g``,
    each parameter's ``lr_mult`` respected; a parameter whose gradient ``backward`` did not
    refresh is skipped. ``step(1)`` like a Trainer."""

    def __init__(self, params: list, opt: Optimizer) -> None:
        self.params, self.lr = params, opt.lr

    def step(self, batch_size: int = 1) -> None:
        """One update; ``batch_size`` must be 1 (losses are batch means)."""
        if batch_size != 1:
            raise ValueError(f"SGD takes step(1) (losses are means), got {batch_size}")
        for p in self.params:
            w = p.data()
            if w._fresh_grad:
                w[:] = w - p.grad() * (self.lr * p.lr_mult)
                w._fresh_grad = False


def moment_scales(b1: float, b2: float) -> tuple[float, float]:
    """``(c1, c2)``: the fused kernel's moment coefficients ``1 - float32(b)`` (exact in
    float32) over triptych's ``float32(1 - b)``, in float64."""
    f = np.float32
    return (
        float(f(1.0) - f(b1)) / float(f(1.0 - b1)),
        float(f(1.0) - f(b2)) / float(f(1.0 - b2)),
    )


def _trainer(
    params: list, opt: Optimizer, dtype: str = "float32"
) -> mx.gluon.Trainer | TriptychAdam | ExactSGD:
    if opt.name == "adam":
        return TriptychAdam(params, opt, dtype)
    if opt.name == "sgd" and dtype != "float32":
        return ExactSGD(params, opt)
    if opt.name == "sgd":
        return mx.gluon.Trainer(params, "sgd", {"learning_rate": opt.lr, "wd": 0.0})
    return mx.gluon.Trainer(
        params,
        "adam",
        {
            "learning_rate": opt.lr,
            "beta1": opt.betas[0],
            "beta2": opt.betas[1],
            "epsilon": opt.eps,
            "wd": 0.0,
        },
    )


def _trainable(blocks: list) -> list:
    return [p for b in blocks for p in b.collect_params().values() if p.grad_req != "null"]


def _nd(x: np.ndarray | None, dtype: str = "float32"):
    """A numpy batch as an NDArray of the network's ``dtype``; NDArrays pass as they are."""
    if x is None or isinstance(x, nd.NDArray):
        return x
    return nd.array(np.asarray(x, dtype), dtype=dtype)


def to_floats(values: list) -> list[float]:
    """Native scalars (what the steps' ``run`` returns: one-element NDArrays) as Python
    floats, in one read-back; the same numbers ``v.asscalar()`` gives one by one."""
    if values and all(isinstance(v, nd.NDArray) for v in values):
        flat = nd.concat(*[v.reshape((1,)) for v in values], dim=0)
        return [float(v) for v in flat.asnumpy().tolist()]
    return [float(v.asscalar() if isinstance(v, nd.NDArray) else v) for v in values]


def _bce_logits(logits, label: float):
    return nd.mean(nd.relu(logits) - logits * label + nd.log1p(nd.exp(-nd.abs(logits))))


class _Step:
    trainer: mx.gluon.Trainer | TriptychAdam | ExactSGD

    def state(self) -> dict[str, np.ndarray]:
        """triptych's Adam: m, v, step per parameter; plain SGD: none. Gluon's own Adam
        pickles its state, so ``adam_native`` cannot be checkpointed (ValueError)."""
        if isinstance(self.trainer, TriptychAdam):
            return self.trainer.state()
        if (
            isinstance(self.trainer, ExactSGD)
            or self.trainer.optimizer.__class__.__name__.lower() == "sgd"
        ):
            return {}
        raise ValueError("MXNet's own Adam (adam_native) cannot be checkpointed; use adam")

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `state` returned; ValueError (one line) if it does not fit."""
        if isinstance(self.trainer, TriptychAdam):
            self.trainer.load_state(state)
            return
        self.state()  # refuses adam_native
        if state:
            raise ValueError(f"SGD has no state; got {len(state)} tensors")


class SupervisedStep(_Step):
    def __init__(
        self,
        chain: list[GluonBuilt],
        loss: str,
        optimizer: Optimizer,
        frozen: Frozen = frozenset(),
        lr_mult: LrMult | None = None,
        tuned: bool = False,
    ) -> None:
        self.kind = check_loss(loss)
        self.dtype = chain[0].dtype
        self.input_dtype = S.numpy_input_dtype(chain[0].network, chain[0].dtype)
        self.blocks = [b.native for b in chain]
        if tuned:  # Gluon's recommended speed option: a static cached graph
            for block in self.blocks:
                block.hybridize(static_alloc=True, static_shape=True)
        for b in chain:
            for i, block in b.holders.items():
                key = (b.network.name, i)
                params = block.collect_params().values()
                if key in frozen:  # no gradient; a frozen BN uses its running statistics
                    for p in params:
                        p.grad_req = "null"
                    if isinstance(block, mx.gluon.nn.BatchNorm):
                        block._kwargs["use_global_stats"] = True
                    continue
                for p in params:
                    p.lr_mult = (lr_mult or {}).get(key, 1.0)
        trainable = _trainable(self.blocks)
        if not trainable:
            raise ValueError("every layer is frozen: nothing to train")
        self.trainer = _trainer(trainable, optimizer, self.dtype)

    def run(self, x: np.ndarray, target: np.ndarray):
        """The step; the loss as a one-element NDArray (not waited for)."""
        h, t = _nd(x, self.input_dtype), _nd(target, self.dtype)
        with mx.autograd.record(train_mode=True):
            for b in self.blocks:
                h = b(h)
            if self.kind == "mse":
                value = nd.mean(nd.square(h - t))
            elif self.kind == "cross_entropy":
                value = -nd.mean(nd.pick(nd.log_softmax(h, axis=1), t, axis=1))
            else:
                value = nd.mean(nd.relu(h) - h * t + nd.log1p(nd.exp(-nd.abs(h))))
        value.backward()
        self.trainer.step(1)
        return value

    def __call__(self, x: np.ndarray, target: np.ndarray) -> float:
        return float(self.run(x, target).asscalar())


class GeneratorStep(_Step):
    def __init__(
        self,
        chain: list[GluonBuilt],
        optimizer: Optimizer,
        *,
        rec_weight: float,
        l1: float,
        disc: GluonBuilt | None,
        adv_weight: float,
    ) -> None:
        self.dtype = chain[0].dtype
        self.blocks = [b.native for b in chain]
        self.disc = disc.native if disc is not None and adv_weight > 0 else None
        self.rec_weight, self.l1, self.adv_weight = rec_weight, l1, adv_weight
        self.trainer = _trainer(_trainable(self.blocks), optimizer, self.dtype)

    def __call__(
        self, x_in: np.ndarray, target: np.ndarray | None = None, weight: np.ndarray | None = None
    ) -> dict[str, float]:
        out = self.run(x_in, target, weight)
        return dict(zip(out, to_floats(list(out.values())), strict=True))

    def run(
        self, x_in: np.ndarray, target: np.ndarray | None = None, weight: np.ndarray | None = None
    ) -> dict:
        """The step; its values as one-element NDArrays (not waited for)."""
        dtype = self.dtype
        h, t, w, code = _nd(x_in, dtype), _nd(target, dtype), _nd(weight, dtype), None
        with mx.autograd.record(train_mode=True):
            for i, b in enumerate(self.blocks):
                h = b(h)
                if i == 0 and len(self.blocks) > 1:
                    code = h
            zero = nd.zeros((1,), dtype=dtype)
            rec = zero
            if t is not None:
                sq = nd.square(h - t)
                rec = nd.mean(sq) if w is None else nd.sum(sq * w) / nd.sum(w)
            l1 = nd.mean(nd.abs(code)) if (self.l1 > 0 and code is not None) else zero
            adv = _bce_logits(self.disc(h), 1.0) if self.disc is not None else zero
            value = self.rec_weight * rec + self.l1 * l1 + self.adv_weight * adv
        value.backward()
        self.trainer.step(1)
        return {"loss": value, "rec": rec, "l1": l1, "adv": adv}


class DiscriminatorStep(_Step):
    def __init__(self, disc: GluonBuilt, optimizer: Optimizer) -> None:
        self.disc, self.dtype = disc.native, disc.dtype
        self.trainer = _trainer(_trainable([self.disc]), optimizer, self.dtype)

    def __call__(self, real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
        out = self.run(real, fake)
        return dict(zip(out, to_floats(list(out.values())), strict=True))

    def run(self, real: np.ndarray, fake: np.ndarray) -> dict:
        """The step; its values as one-element NDArrays (not waited for)."""
        with mx.autograd.record(train_mode=True):
            lr_ = self.disc(_nd(real, self.dtype))
            lf = self.disc(_nd(fake, self.dtype))
            value = _bce_logits(lr_, 1.0) + _bce_logits(lf, 0.0)
        value.backward()
        self.trainer.step(1)
        return {"d_loss": value, "acc_real": (lr_ > 0).mean(), "acc_fake": (lf < 0).mean()}


def make_trainer(
    chain: list[GluonBuilt],
    loss: str,
    optimizer: Optimizer,
    frozen: Frozen = frozenset(),
    lr_mult: LrMult | None = None,
    tuned: bool = False,
) -> SupervisedStep:
    """``step(x, target) -> loss``: train-mode forward through ``chain``, backward, update.

    ``frozen`` layers: ``grad_req='null'`` and, for BatchNorm, ``use_global_stats`` (running
    statistics used, not updated). ``lr_mult``: Gluon's per-parameter ``lr_mult``.
    ``tuned``: ``hybridize(static_alloc, static_shape)`` (benchmarks' tuned variant).
    """
    return SupervisedStep(chain, loss, optimizer, frozen, lr_mult, tuned)


def make_generator_step(
    chain: list[GluonBuilt],
    optimizer: Optimizer,
    *,
    rec_weight: float = 1.0,
    l1: float = 0.0,
    disc: GluonBuilt | None = None,
    adv_weight: float = 0.0,
) -> GeneratorStep:
    """Reconstruction/generator step; only ``chain``'s parameters are updated."""
    return GeneratorStep(
        chain, optimizer, rec_weight=rec_weight, l1=l1, disc=disc, adv_weight=adv_weight
    )


def make_discriminator_step(disc: GluonBuilt, optimizer: Optimizer) -> DiscriminatorStep:
    """Real labelled 1, fake labelled 0, BCE with logits summed; only ``disc`` updates."""
    return DiscriminatorStep(disc, optimizer)
