"""Training steps with autograd. Same function names in every backend:

* ``make_trainer(chain, loss, optimizer)``: supervised step ``step(x, target) -> loss``;
* ``make_generator_step(chain, optimizer, ...)``: reconstruction / generator step
  ``step(x_in, target, weight) -> {"loss", "rec", "l1", "adv"}`` updating only ``chain``;
* ``make_discriminator_step(disc, optimizer)``: ``step(real, fake) -> {"d_loss",
  "acc_real", "acc_fake"}`` updating only ``disc``.
Each step object has ``state() -> dict[str, np.ndarray]`` / ``load_state(dict)`` for the
optimizer state (names of `triptych.common.adam`; safetensors-ready, no pickle), and
``run(...)``: the same step returning its values as native scalars without reading them back
(the training loop converts them in bulk with `to_floats` when it logs). Inputs may be numpy
arrays or native tensors (used as they are).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from triptych.common import adam
from triptych.common import spec as S
from triptych.common.recipe import Frozen, LrMult, Optimizer, check_loss
from triptych.frameworks.torch.build import TorchBuilt


class TriptychAdam(torch.optim.Optimizer):
    """triptych's Adam (`triptych.common.adam`): PyTorch's formula, op by op as in the other
    backends. Parameters without a gradient in a step are skipped (m, v, t kept).

    Each op runs once over all the group's parameters (``torch._foreach_*``, what
    ``torch.optim``'s foreach paths call): on CPU a C++ loop calling the same per-tensor op,
    so the numbers are bitwise those of the per-parameter ops, with one Python dispatch per
    op instead of one per op and parameter."""

    def __init__(self, params: list, lr: float, betas: tuple[float, float], eps: float) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # torch.optim signature
        for group in self.param_groups:
            b1, b2 = group["betas"]
            ps, gs, ms, vs, sizes, bias2s = [], [], [], [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["step"] = 0
                    st["exp_avg"] = torch.zeros_like(p)
                    st["exp_avg_sq"] = torch.zeros_like(p)
                st["step"] += 1
                step_size, bias2_sqrt = adam.scalars(group["lr"], b1, b2, st["step"])
                ps.append(p)
                gs.append(p.grad)
                ms.append(st["exp_avg"])
                vs.append(st["exp_avg_sq"])
                sizes.append(step_size)
                bias2s.append(bias2_sqrt)
            if not ps:
                continue
            # m = m * b1 + g * (1 - b1);  v = v * b2 + (g * g) * (1 - b2)
            torch._foreach_mul_(ms, b1)
            torch._foreach_add_(ms, torch._foreach_mul(gs, 1 - b1))
            torch._foreach_mul_(vs, b2)
            sq = torch._foreach_mul(gs, gs)
            torch._foreach_mul_(sq, 1 - b2)
            torch._foreach_add_(vs, sq)
            # p = p - (m / (sqrt(v) / sqrt(bias2) + eps)) * (lr / bias1)
            denom = torch._foreach_sqrt(vs)
            torch._foreach_div_(denom, bias2s)
            torch._foreach_add_(denom, group["eps"])
            update = torch._foreach_div(ms, denom)
            torch._foreach_mul_(update, sizes)
            torch._foreach_sub_(ps, update)


def _optimizer(params: list, opt: Optimizer) -> torch.optim.Optimizer:
    if opt.name == "sgd":
        return torch.optim.SGD(params, lr=opt.lr)
    if opt.name == "adam_native":  # PyTorch's own (measurement; same formula, fused ops)
        return torch.optim.Adam(params, lr=opt.lr, betas=opt.betas, eps=opt.eps, foreach=False)
    return TriptychAdam(params, opt.lr, opt.betas, opt.eps)


def _params(opt: torch.optim.Optimizer) -> list[torch.nn.Parameter]:
    return [p for g in opt.param_groups for p in g["params"]]


def _t(x: np.ndarray | torch.Tensor | None, dtype: str = "float32") -> torch.Tensor | None:
    """A numpy batch as a tensor of the network's ``dtype``; tensors pass as they are."""
    if x is None or isinstance(x, torch.Tensor):
        return x
    return torch.from_numpy(np.ascontiguousarray(x, dtype))


def to_floats(values: list[torch.Tensor | float]) -> list[float]:
    """Native scalars (what the steps' ``run`` returns) as Python floats, in one read-back;
    the same numbers ``float(v)`` gives one by one."""
    if not values:
        return []
    if all(isinstance(v, torch.Tensor) for v in values) and len({v.dtype for v in values}) == 1:
        return [float(v) for v in torch.stack([v.reshape(()) for v in values]).tolist()]
    return [float(v) for v in values]


class _Step:
    opt: torch.optim.Optimizer

    def state(self) -> dict[str, np.ndarray]:
        """Adam's m, v and step per parameter (`triptych.common.adam` names); SGD: none."""
        if isinstance(self.opt, torch.optim.SGD):
            return {}
        params = _params(self.opt)
        out = {adam.STEP: np.zeros(len(params), np.int64)}
        for i, p in enumerate(params):
            st = self.opt.state.get(p, {})
            out[adam.STEP][i] = int(st.get("step", 0))
            for name, key in ((adam.m_name(i), "exp_avg"), (adam.v_name(i), "exp_avg_sq")):
                t = st.get(key)
                t = torch.zeros_like(p) if t is None else t
                out[name] = np.ascontiguousarray(t.detach().cpu().numpy())
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `state` returned; ValueError (one line) if it does not fit."""
        if isinstance(self.opt, torch.optim.SGD):
            if state:
                raise ValueError(f"SGD has no state; got {len(state)} tensors")
            return
        params = _params(self.opt)
        adam.check_state(state, [tuple(p.shape) for p in params])
        native = isinstance(self.opt, torch.optim.Adam)
        for i, p in enumerate(params):
            t = int(state[adam.STEP][i])
            if t == 0:
                self.opt.state.pop(p, None)
                continue
            fmt = (
                torch.channels_last
                if p.is_contiguous(memory_format=torch.channels_last) and p.dim() == 4
                else torch.contiguous_format
            )
            self.opt.state[p] = {
                "step": torch.tensor(float(t)) if native else t,
                "exp_avg": torch.from_numpy(state[adam.m_name(i)].copy()).to(memory_format=fmt),
                "exp_avg_sq": torch.from_numpy(state[adam.v_name(i)].copy()).to(memory_format=fmt),
            }


class SupervisedStep(_Step):
    def __init__(
        self,
        chain: list[TorchBuilt],
        loss: str,
        optimizer: Optimizer,
        frozen: Frozen = frozenset(),
        lr_mult: LrMult | None = None,
        tuned: bool = False,
    ) -> None:
        self.kind = check_loss(loss)
        self.dtype = chain[0].dtype
        self.modules = [b.native for b in chain]
        self.input_dtype = S.numpy_input_dtype(chain[0].network, chain[0].dtype)
        self.channels_last = tuned and len(chain[0].network.input_shape) == 3
        if self.channels_last:  # PyTorch's recommended CPU layout for convolutions
            for m in self.modules:
                m.to(memory_format=torch.channels_last)
        # tuned: each module's forward (and so its backward) compiled by torch.compile; the
        # parameters stay the modules' own, so the optimizer and the state are unchanged
        self.forwards = [torch.compile(m) for m in self.modules] if tuned else self.modules
        self.frozen_bn: list[torch.nn.Module] = []
        groups: dict[float, list[torch.nn.Parameter]] = {}
        for b in chain:
            for i, module in enumerate(b.native):
                key = (b.network.name, i)
                if key in frozen:  # requires_grad off; frozen BN runs in eval mode
                    module.requires_grad_(False)
                    if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                        self.frozen_bn.append(module)
                    continue
                mult = (lr_mult or {}).get(key, 1.0)
                groups.setdefault(mult, []).extend(
                    p for p in module.parameters() if p.requires_grad
                )
        param_groups = [
            {"params": ps, "lr": optimizer.lr * mult} for mult, ps in groups.items() if ps
        ]
        if not param_groups:
            raise ValueError("every layer is frozen: nothing to train")
        self.opt = _optimizer(param_groups, optimizer)

    def __call__(self, x: np.ndarray, target: np.ndarray) -> float:
        return float(self.run(x, target))

    def run(self, x: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> torch.Tensor:
        """The step; the loss as a 0-d tensor (no read-back)."""
        for m in self.modules:
            m.train()
        for m in self.frozen_bn:
            m.eval()
        h = _t(x, self.input_dtype)
        if self.channels_last:
            h = h.contiguous(memory_format=torch.channels_last)
        for m in self.forwards:
            h = m(h)
        t = (
            target
            if isinstance(target, torch.Tensor)
            else torch.from_numpy(
                np.ascontiguousarray(target, None if self.kind == "cross_entropy" else self.dtype)
            )
        )
        if self.kind == "mse":
            value = F.mse_loss(h, t)
        elif self.kind == "cross_entropy":
            value = F.cross_entropy(h, t.long())
        else:
            value = F.binary_cross_entropy_with_logits(h, t)
        self.opt.zero_grad(set_to_none=True)
        value.backward()
        self.opt.step()
        for m in self.modules:
            m.eval()
        return value.detach()


class GeneratorStep(_Step):
    def __init__(
        self,
        chain: list[TorchBuilt],
        optimizer: Optimizer,
        *,
        rec_weight: float,
        l1: float,
        disc: TorchBuilt | None,
        adv_weight: float,
    ) -> None:
        self.dtype = chain[0].dtype
        self.modules = [b.native for b in chain]
        self.disc = disc.native if disc is not None and adv_weight > 0 else None
        self.rec_weight, self.l1, self.adv_weight = rec_weight, l1, adv_weight
        self.opt = _optimizer([p for m in self.modules for p in m.parameters()], optimizer)

    def __call__(
        self, x_in: np.ndarray, target: np.ndarray | None = None, weight: np.ndarray | None = None
    ) -> dict[str, float]:
        out = self.run(x_in, target, weight)
        return dict(zip(out, to_floats(list(out.values())), strict=True))

    def run(
        self, x_in: np.ndarray, target: np.ndarray | None = None, weight: np.ndarray | None = None
    ) -> dict[str, torch.Tensor]:
        """The step; its values as 0-d tensors (no read-back)."""
        for m in self.modules:
            m.train()
        h, code = _t(x_in, self.dtype), None
        for i, m in enumerate(self.modules):
            h = m(h)
            if i == 0 and len(self.modules) > 1:
                code = h
        zero = h.new_zeros(())
        rec = zero
        if target is not None:
            sq = (h - _t(target, self.dtype)) ** 2
            w = _t(weight, self.dtype)
            rec = sq.mean() if w is None else (sq * w).sum() / w.sum()
        l1 = code.abs().mean() if (self.l1 > 0 and code is not None) else zero
        adv = zero
        if self.disc is not None:
            self.disc.train()
            logits = self.disc(h)
            adv = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        value = self.rec_weight * rec + self.l1 * l1 + self.adv_weight * adv
        self.opt.zero_grad(set_to_none=True)
        value.backward()
        self.opt.step()
        for m in [*self.modules, *([self.disc] if self.disc is not None else [])]:
            m.eval()
        return {
            "loss": value.detach(),
            "rec": rec.detach(),
            "l1": l1.detach(),
            "adv": adv.detach(),
        }


class DiscriminatorStep(_Step):
    def __init__(self, disc: TorchBuilt, optimizer: Optimizer) -> None:
        self.disc = disc.native
        self.dtype = disc.dtype
        self.opt = _optimizer(list(self.disc.parameters()), optimizer)

    def __call__(self, real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
        out = self.run(real, fake)
        return dict(zip(out, to_floats(list(out.values())), strict=True))

    def run(self, real: np.ndarray, fake: np.ndarray) -> dict[str, torch.Tensor]:
        """The step; its values as 0-d tensors (no read-back)."""
        self.disc.train()
        lr_, lf = self.disc(_t(real, self.dtype)), self.disc(_t(fake, self.dtype))
        loss_real = F.binary_cross_entropy_with_logits(lr_, torch.ones_like(lr_))
        loss_fake = F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf))
        value = loss_real + loss_fake
        self.opt.zero_grad(set_to_none=True)
        value.backward()
        self.opt.step()
        self.disc.eval()
        return {
            "d_loss": value.detach(),
            "acc_real": (lr_.detach() > 0).float().mean(),
            "acc_fake": (lf.detach() < 0).float().mean(),
        }


def make_trainer(
    chain: list[TorchBuilt],
    loss: str,
    optimizer: Optimizer,
    frozen: Frozen = frozenset(),
    lr_mult: LrMult | None = None,
    tuned: bool = False,
) -> SupervisedStep:
    """``step(x, target) -> loss``: train-mode forward through ``chain``, backward, update.

    ``frozen`` layers: ``requires_grad=False`` and, for BatchNorm, eval mode (running
    statistics used, not updated). ``lr_mult``: one parameter group per multiplier.
    ``tuned``: channels_last memory format for images and each module compiled with
    ``torch.compile`` (benchmarks' tuned variant; the first step compiles).
    """
    return SupervisedStep(chain, loss, optimizer, frozen, lr_mult, tuned)


def make_generator_step(
    chain: list[TorchBuilt],
    optimizer: Optimizer,
    *,
    rec_weight: float = 1.0,
    l1: float = 0.0,
    disc: TorchBuilt | None = None,
    adv_weight: float = 0.0,
) -> GeneratorStep:
    """Reconstruction/generator step; only ``chain``'s parameters are updated."""
    return GeneratorStep(
        chain, optimizer, rec_weight=rec_weight, l1=l1, disc=disc, adv_weight=adv_weight
    )


def make_discriminator_step(disc: TorchBuilt, optimizer: Optimizer) -> DiscriminatorStep:
    """Real labelled 1, fake labelled 0, BCE with logits summed; only ``disc`` updates."""
    return DiscriminatorStep(disc, optimizer)
