"""`Trainable`: what every training step shares. It splits each network's parameters into
the trained ones and the fixed ones (frozen layers; a discriminator inside the generator's
step), compiles the step (loss, ``jax.value_and_grad``, the optax update) with ``jax.jit``,
runs it, writes parameters and running statistics back to the networks, and keeps the
optimizer state in triptych's format (`triptych.common.adam` names)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import optax

from triptych.common import adam
from triptych.common.recipe import LrMult, Optimizer
from triptych.frameworks.jax import optim
from triptych.frameworks.jax.build import JaxNet
from triptych.frameworks.jax.compat import jax, jnp

Tree = Any


class Trainable:
    """The trained ``nets`` (in chain order; ``frozen`` node indices per network stay
    fixed) and an ``extra`` network run inside the step but not trained; ``lr_mult``
    scales the learning rate per (network, node)."""

    def __init__(
        self,
        nets: list[JaxNet],
        optimizer: Optimizer,
        frozen: list[frozenset[int]],
        lr_mult: LrMult,
        extra: JaxNet | None = None,
    ) -> None:
        self.nets = nets
        self.all_nets = nets + ([extra] if extra is not None else [])
        self.dtype = nets[0].dtype
        #: (network position, local name) of each trained parameter: the optimizer's order
        self.order: list[tuple[int, str]] = []
        lrs: list[float] = []
        for j, net in enumerate(nets):
            for i, names in enumerate(net.param_names):
                if i in frozen[j]:
                    continue
                mult = lr_mult.get((net.network.name, i), 1.0)
                self.order += [(j, n) for n in names]
                lrs += [optimizer.lr * mult] * len(names)
        if not self.order:
            raise ValueError("every layer is frozen: nothing to train")
        self.optimizer = optimizer
        self.tx = optim.make(optimizer.name, optimizer.betas, optimizer.eps)
        self.scalars = optim.Scalars(optimizer.name, lrs, optimizer.betas, self.dtype)
        self.opt_state = self.tx.init(self._split()[0])
        #: data parallelism (`triptych.frameworks.jax.distributed.attach`): gradients tree ->
        #: their mean over the workers, called between the gradient and the update
        self.grad_sync: Callable[[Any], Any] | None = None
        self._split_fns: tuple[Callable, Callable] | None = None

    def _split(self) -> tuple[tuple[dict, ...], tuple[dict, ...], tuple[dict, ...]]:
        """(trained, fixed, running statistics), one dict per network of ``all_nets``."""
        trained: list[dict] = [{} for _ in self.all_nets]
        for j, name in self.order:
            trained[j][name] = self.all_nets[j].params[name]
        fixed = tuple(
            {k: v for k, v in net.params.items() if k not in trained[j]}
            for j, net in enumerate(self.all_nets)
        )
        return tuple(trained), fixed, tuple(dict(net.state) for net in self.all_nets)

    def _unflatten(self, values: list[Any]) -> tuple[dict, ...]:
        """Per-parameter ``values`` (optimizer order) as the trained tree."""
        out: list[dict] = [{} for _ in self.all_nets]
        for (j, name), value in zip(self.order, values, strict=True):
            out[j][name] = value
        return tuple(out)

    def compile(self, loss_fn: Callable[..., Any], aux_values: bool = False) -> Callable:
        """The jitted step around ``loss_fn(trained, fixed, states, a, b, masks, keys) ->
        (loss, aux)``; ``aux`` is the new running statistics, or (those, named values)."""
        tx = self.tx
        self._loss_fn, self._aux_values = loss_fn, aux_values

        def step(train, fixed, states, a, b, masks, keys, opt_state, scalars):
            grad = jax.value_and_grad(loss_fn, has_aux=True)
            (value, aux), grads = grad(train, fixed, states, a, b, masks, keys)
            updates, opt_state = tx.update(grads, opt_state, train, **scalars)
            new_states, values = aux if aux_values else (aux, {})
            return value, values, optax.apply_updates(train, updates), new_states, opt_state

        return jax.jit(step)

    def _two_steps(self) -> tuple[Callable, Callable]:
        """The step split around `grad_sync`: jitted (loss, values, gradients, statistics),
        then the jitted optax update."""
        if self._split_fns is None:
            loss_fn, aux_values, tx = self._loss_fn, self._aux_values, self.tx

            def grads(train, fixed, states, a, b, masks, keys):
                grad = jax.value_and_grad(loss_fn, has_aux=True)
                (value, aux), g = grad(train, fixed, states, a, b, masks, keys)
                new_states, values = aux if aux_values else (aux, {})
                return value, values, g, new_states

            def update(g, opt_state, train, scalars):
                updates, opt_state = tx.update(g, opt_state, train, **scalars)
                return optax.apply_updates(train, updates), opt_state

            self._split_fns = (jax.jit(grads), jax.jit(update))
        return self._split_fns

    def step(self, compiled: Callable, a: Any, b: Any, masks: list, keys: list) -> Any:
        """Run ``compiled`` on inputs ``a``, ``b`` (split around `grad_sync` when one is
        attached); write the results back to the networks; (loss, named values)."""
        train, fixed, states = self._split()
        scalars = self.scalars.next(self._unflatten)
        if self.grad_sync is None:
            value, values, train, new_states, self.opt_state = compiled(
                train, fixed, states, a, b, masks, keys, self.opt_state, scalars
            )
        else:
            grads_fn, update_fn = self._two_steps()
            value, values, g, new_states = grads_fn(train, fixed, states, a, b, masks, keys)
            g = self.grad_sync(g)
            train, self.opt_state = update_fn(g, self.opt_state, train, scalars)
        for j, net in enumerate(self.all_nets):
            net.params.update(train[j])
            if j < len(new_states):
                net.state = dict(new_states[j])
        return value, values

    # optimizer state in triptych's format
    def state(self) -> dict[str, np.ndarray]:
        """Adam's m, v and step per parameter (`triptych.common.adam` names); SGD: none."""
        mv = optim.moments(self.opt_state)
        if mv is None:
            return {}
        m, v = mv
        out = {adam.STEP: self.scalars.t.copy()}
        for i, (j, name) in enumerate(self.order):
            out[adam.m_name(i)] = np.array(m[j][name], copy=True)
            out[adam.v_name(i)] = np.array(v[j][name], copy=True)
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `state` returned; ValueError (one line) if it does not fit."""
        mv = optim.moments(self.opt_state)
        if mv is None:
            if state:
                raise ValueError(f"SGD has no state; got {len(state)} tensors")
            return
        shapes = [tuple(self.all_nets[j].params[n].shape) for j, n in self.order]
        adam.check_state(state, shapes)
        m = self._unflatten([jnp.asarray(state[adam.m_name(i)], self.dtype)
                             for i in range(len(shapes))])  # fmt: skip
        v = self._unflatten([jnp.asarray(state[adam.v_name(i)], self.dtype)
                             for i in range(len(shapes))])  # fmt: skip
        self.scalars.t = np.array(state[adam.STEP], np.int64, copy=True)
        count = int(self.scalars.t.max()) if len(self.scalars.t) else 0
        self.opt_state = optim.with_moments(self.opt_state, m, v, count)
