"""Training steps, each one ``jax.jit``-compiled function of (trainable parameters, fixed
parameters, running statistics, batch, masks, keys, optimizer state, the optimizer's
per-step scalars). Same function names in every backend:

* ``make_trainer(chain, loss, optimizer)``: supervised step ``step(x, target) -> loss``;
* ``make_generator_step(chain, optimizer, ...)``: reconstruction / generator step
  ``step(x_in, target, weight) -> {"loss", "rec", "l1", "adv"}`` updating only ``chain``;
* ``make_discriminator_step(disc, optimizer)``: ``step(real, fake) -> {"d_loss",
  "acc_real", "acc_fake"}`` updating only ``disc``.
Each step object has ``state()`` / ``load_state(dict)`` for the optimizer state (names of
`triptych.common.adam`) and ``run(...)``, the step returning jax scalars without reading them
back (`to_floats` reads them in bulk). Networks run in train mode (batch statistics,
Dropout: the masks set with ``set_dropout_masks`` or the network's key); a discriminator
run inside the generator's step updates its running statistics, as PyTorch's does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.common.recipe import Frozen, LrMult, Optimizer, check_loss
from triptych.frameworks.jax.build import JaxBuilt, JaxNet
from triptych.frameworks.jax.compat import jax, jnp
from triptych.frameworks.jax.layers import Run
from triptych.frameworks.jax.losses import LOSSES, bce_logits
from triptych.frameworks.jax.optim_state import Trainable

Array = Any


def _in(x: Any, dtype: Any) -> Array:
    """A numpy batch as a jax array of ``dtype``; jax arrays pass as they are."""
    return x if isinstance(x, jax.Array) else jnp.asarray(np.asarray(x, dtype))


def to_floats(values: list[Any]) -> list[float]:
    """Jax scalars (what the steps' ``run`` returns) as Python floats, in one read-back."""
    if not values:
        return []
    if all(isinstance(v, jax.Array) for v in values):
        return [float(v) for v in np.asarray(jnp.stack([jnp.reshape(v, ()) for v in values]))]
    return [float(v) for v in values]


def _run(net: JaxNet, key: Array, frozen: frozenset[int] = frozenset()) -> Run:
    return Run(True, net.masks, key, frozen)


def _keys(nets: list[JaxNet]) -> list[Array]:
    """A fresh Dropout key per network (each network's key advances)."""
    out = []
    for net in nets:
        net.key, k = jax.random.split(net.key)
        out.append(k)
    return out


def _masks(nets: list[JaxNet]) -> list[Any]:
    return [net.masks for net in nets]


class SupervisedStep(Trainable):
    def __init__(
        self,
        chain: list[JaxBuilt],
        loss: str,
        optimizer: Optimizer,
        frozen: Frozen = frozenset(),
        lr_mult: LrMult | None = None,
        tuned: bool = False,
    ) -> None:
        self.kind = check_loss(loss)
        nets = [b.native for b in chain]
        frozen_nodes = [
            frozenset(i for i in range(len(b.network.infos)) if (b.network.name, i) in frozen)
            for b in chain
        ]
        super().__init__(nets, optimizer, frozen_nodes, lr_mult or {})
        fn = LOSSES[self.kind]
        self.x_dtype = S.numpy_input_dtype(chain[0].network, chain[0].dtype)

        def loss_fn(train: Any, fixed: Any, states: Any, x: Array, t: Array, masks: Any,
                    keys: Any) -> Any:  # fmt: skip
            h, new_states = x, []
            for j, net in enumerate(nets):
                run = Run(True, masks[j], keys[j], frozen_nodes[j])
                h, s = net.apply({**fixed[j], **train[j]}, states[j], h, run)
                new_states.append(s)
            return fn(h, t), new_states

        self._compiled = self.compile(loss_fn)

    def __call__(self, x: np.ndarray, target: np.ndarray) -> float:
        return float(self.run(x, target))

    def run(self, x: Any, target: Any) -> Array:
        """The step; the loss as a 0-d jax array (no read-back)."""
        t = _in(target, np.int64 if self.kind == "cross_entropy" else self.dtype)
        loss, _ = self.step(self._compiled, _in(x, self.x_dtype), t, _masks(self.nets),
                            _keys(self.nets))  # fmt: skip
        return loss


class GeneratorStep(Trainable):
    def __init__(
        self,
        chain: list[JaxBuilt],
        optimizer: Optimizer,
        *,
        rec_weight: float,
        l1: float,
        disc: JaxBuilt | None,
        adv_weight: float,
    ) -> None:
        nets = [b.native for b in chain]
        self.disc = disc.native if disc is not None and adv_weight > 0 else None
        super().__init__(nets, optimizer, [frozenset()] * len(nets), {}, extra=self.disc)
        disc_net = self.disc

        def loss_fn(train: Any, fixed: Any, states: Any, x: Array, target: Any, masks: Any,
                    keys: Any) -> Any:  # fmt: skip
            t, w = target
            h, code, new_states = x, None, []
            for j, net in enumerate(nets):
                h, s = net.apply({**fixed[j], **train[j]}, states[j], h, _run(net, keys[j]))
                new_states.append(s)
                if j == 0 and len(nets) > 1:
                    code = h
            zero = jnp.zeros((), h.dtype)
            rec = zero
            if t is not None:
                sq = jnp.square(h - t)
                rec = jnp.mean(sq) if w is None else jnp.sum(sq * w) / jnp.sum(w)
            l1_term = jnp.mean(jnp.abs(code)) if (l1 > 0 and code is not None) else zero
            adv = zero
            if disc_net is not None:
                j = len(nets)
                logits, s = disc_net.apply(fixed[j], states[j], h,
                                           Run(True, masks[j], keys[j]))  # fmt: skip
                new_states.append(s)
                adv = bce_logits(logits, jnp.ones_like(logits))
            value = rec_weight * rec + l1 * l1_term + adv_weight * adv
            return value, (new_states, {"rec": rec, "l1": l1_term, "adv": adv})

        self._compiled = self.compile(loss_fn, aux_values=True)

    def __call__(
        self, x_in: np.ndarray, target: np.ndarray | None = None, weight: np.ndarray | None = None
    ) -> dict[str, float]:
        out = self.run(x_in, target, weight)
        return dict(zip(out, to_floats(list(out.values())), strict=True))

    def run(self, x_in: Any, target: Any = None, weight: Any = None) -> dict[str, Array]:
        """The step; its values as 0-d jax arrays (no read-back)."""
        t = None if target is None else _in(target, self.dtype)
        w = None if weight is None else _in(weight, self.dtype)
        loss, aux = self.step(self._compiled, _in(x_in, self.dtype), (t, w),
                              _masks(self.all_nets), _keys(self.all_nets))  # fmt: skip
        return {"loss": loss, **aux}


class DiscriminatorStep(Trainable):
    def __init__(self, disc: JaxBuilt, optimizer: Optimizer) -> None:
        net = disc.native
        super().__init__([net], optimizer, [frozenset()], {})

        def loss_fn(train: Any, fixed: Any, states: Any, real: Array, fake: Array, masks: Any,
                    keys: Any) -> Any:  # fmt: skip
            params = {**fixed[0], **train[0]}
            lr_, s = net.apply(params, states[0], real, Run(True, masks[0], keys[0]))
            key2 = None if keys[0] is None else jax.random.fold_in(keys[0], 1)
            lf, s = net.apply(params, s, fake, Run(True, masks[0], key2))
            value = bce_logits(lr_, jnp.ones_like(lr_)) + bce_logits(lf, jnp.zeros_like(lf))
            acc = {
                "acc_real": jnp.mean((lr_ > 0).astype(lr_.dtype)),
                "acc_fake": jnp.mean((lf < 0).astype(lf.dtype)),
            }
            return value, ([s], acc)

        self._compiled = self.compile(loss_fn, aux_values=True)

    def __call__(self, real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
        out = self.run(real, fake)
        return dict(zip(out, to_floats(list(out.values())), strict=True))

    def run(self, real: Any, fake: Any) -> dict[str, Array]:
        """The step; its values as 0-d jax arrays (no read-back)."""
        loss, aux = self.step(self._compiled, _in(real, self.dtype), _in(fake, self.dtype),
                              _masks(self.nets), _keys(self.nets))  # fmt: skip
        return {"d_loss": loss, **aux}


def make_trainer(
    chain: list[JaxBuilt],
    loss: str,
    optimizer: Optimizer,
    frozen: Frozen = frozenset(),
    lr_mult: LrMult | None = None,
    tuned: bool = False,
) -> SupervisedStep:
    """``step(x, target) -> loss``: train-mode forward through ``chain``, gradients,
    update, one ``jax.jit``-compiled call (compiled at the first step).

    ``frozen`` layers: their parameters are constants of the step and a frozen BatchNorm
    runs in eval mode (running statistics used, not updated). ``lr_mult``: per-parameter
    learning rates. ``tuned`` changes nothing: the jitted step is JAX's fast path already.
    """
    return SupervisedStep(chain, loss, optimizer, frozen, lr_mult, tuned)


def make_generator_step(
    chain: list[JaxBuilt],
    optimizer: Optimizer,
    *,
    rec_weight: float = 1.0,
    l1: float = 0.0,
    disc: JaxBuilt | None = None,
    adv_weight: float = 0.0,
) -> GeneratorStep:
    """Reconstruction/generator step; only ``chain``'s parameters are updated."""
    return GeneratorStep(
        chain, optimizer, rec_weight=rec_weight, l1=l1, disc=disc, adv_weight=adv_weight
    )


def make_discriminator_step(disc: JaxBuilt, optimizer: Optimizer) -> DiscriminatorStep:
    """Real labelled 1, fake labelled 0, BCE with logits summed; only ``disc`` updates."""
    return DiscriminatorStep(disc, optimizer)
