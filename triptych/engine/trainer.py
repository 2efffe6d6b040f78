"""`Trainer`: one model's step objects (from its backend's ``train.py``) for one recipe, with
exact Dropout masks per step (`exact_masks`, or handed to a lazy step's graph a block at a
time, `triptych.engine.masks`) and frozen BatchNorm statistics where a step needs them.
`triptych.engine.loop.fit` drives it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from triptych.common import data as D
from triptych.common import interrupt
from triptych.common.dropout import dropout_layers, dropout_masks
from triptych.common.recipe import Recipe
from triptych.engine.augment import augment
from triptych.engine.corrupt import corrupt
from triptych.engine.masks import MasksAhead
from triptych.frameworks.base import ModelLike

#: BatchNorm running statistics (buffers, not parameters)
BUFFERS = ("running_mean", "running_var")


@contextlib.contextmanager
def exact_masks(
    model: ModelLike, networks: list[str], batch: int, seed: int, step: int
) -> Iterator[None]:
    """Exact Dropout for one numbered step: inside, train-mode forwards of ``networks`` use
    the masks of `triptych.common.dropout` for (seed, step) and a batch of ``batch``; after,
    each framework's own Dropout again. Networks without Dropout are left alone."""
    nets = [n for n in dict.fromkeys(networks) if dropout_layers(model.spec.networks[n])]
    for n in nets:
        masks = dropout_masks(model.spec.networks[n], batch, seed, step)
        model.backend.set_dropout_masks(model.built(n), masks)
    try:
        yield
    finally:
        for n in nets:
            model.backend.set_dropout_masks(model.built(n), None)


class ExactDropoutStep:
    """``step(x, target) -> loss`` with exact Dropout: call k uses the masks of step
    ``start + k`` (seed ``seed``), so a trainer restarted with ``start`` = steps done draws
    what an uninterrupted one would. ``state()`` / ``load_state()`` pass through."""

    def __init__(
        self,
        inner: Callable[[np.ndarray, Any], float],
        model: ModelLike,
        networks: list[str],
        seed: int,
        start: int = 0,
    ) -> None:
        self.inner, self.model, self.networks = inner, model, list(networks)
        self.seed, self.step = seed, start

    def __call__(self, x: np.ndarray, target: Any) -> float:
        interrupt.check()  # a Ctrl-C swallowed by a library callback stops here
        self.step += 1
        with exact_masks(self.model, self.networks, len(x), self.seed, self.step):
            return self.inner(x, target)

    def state(self) -> bytes:
        return self.inner.state()

    def load_state(self, blob: bytes) -> None:
        self.inner.load_state(blob)


class Trainer:
    """Builds the step objects for ``recipe`` once and runs numbered steps (with
    ``exact_dropout``, each step under `exact_masks` for its number)."""

    def __init__(
        self,
        model: ModelLike,
        recipe: Recipe,
        seed: int = 0,
        frozen: set[tuple[str, int]] | None = None,
        lr_mult: dict[tuple[str, int], float] | None = None,
        exact_dropout: bool = False,
        lazy: bool = False,
    ) -> None:
        """``lazy``: `step` returns the backend's native scalars (``run``), not floats; read
        them with `to_floats`."""
        self.model, self.recipe, self.seed = model, recipe, seed
        self.exact_dropout, self.lazy = exact_dropout, lazy
        self._ahead: MasksAhead | None = None  # exact Dropout's masks, drawn ahead
        #: the networks with Dropout layers (the only ones exact masks touch)
        self.dropout_nets = [n for n, net in model.spec.networks.items() if dropout_layers(net)]
        if (frozen or lr_mult) and recipe.kind != "supervised":
            raise ValueError(
                "freezing and learning-rate multipliers apply to supervised "
                "(classifier) training only"
            )
        train = model.backend.train
        built = model.built_networks()
        nets = model.spec.networks
        self.steps: dict[str, Any] = {}
        if recipe.kind == "supervised":
            self.steps["main"] = train.make_trainer(
                [built[n] for n in model.spec.main_chain],
                "cross_entropy",
                recipe.optimizer,
                frozenset(frozen or ()),
                lr_mult or {},
            )
            return
        disc_name = "discriminator" if "discriminator" in nets else None
        adversarial = recipe.kind == "adversarial" or recipe.adv_weight > 0
        if adversarial and disc_name is None:
            raise ValueError(
                f"recipe needs a 'discriminator' network; {model.spec.name} has {', '.join(nets)}"
            )
        self.gen_chain = [n for n in model.spec.main_chain if n != disc_name]
        adv_weight = 1.0 if recipe.kind == "adversarial" else recipe.adv_weight
        rec_weight = 0.0 if recipe.kind == "adversarial" else recipe.rec_weight
        self.steps["g"] = train.make_generator_step(
            [built[n] for n in self.gen_chain],
            recipe.optimizer,
            rec_weight=rec_weight,
            l1=recipe.l1,
            disc=built[disc_name] if adversarial else None,
            adv_weight=adv_weight,
        )
        if adversarial:
            self.steps["d"] = train.make_discriminator_step(
                built[disc_name], recipe.d_optimizer or recipe.optimizer
            )

    def _call(self, role: str, *args: Any) -> Any:
        """The step object of ``role`` on ``args``: its ``run`` when lazy (and it has one)."""
        step = self.steps[role]
        run = getattr(step, "run", None) if self.lazy else None
        return (run or step)(*args)

    def to_floats(self, values: list[Any]) -> list[float]:
        """What lazy steps returned, as floats, in one read-back (the backend's
        ``to_floats``; one ``float`` each for a backend without it)."""
        convert = getattr(self.model.backend.train, "to_floats", None)
        return convert(values) if convert is not None else [float(v) for v in values]

    def _generate(self, x_in: np.ndarray) -> np.ndarray:
        """Generator output in train mode (batch statistics), as PyTorch's DCGAN does, for a
        discriminator step: the generator's BatchNorm running statistics are left as they
        were (they update only in its own step)."""
        with self._frozen_buffers(self.gen_chain):
            h = x_in
            for name in self.gen_chain:
                h = self.model.forward(h, name, training=True)
        return h

    @contextlib.contextmanager
    def _frozen_buffers(self, networks: list[str]) -> Iterator[None]:
        """Restore the BatchNorm running statistics of ``networks`` afterwards, so a step of
        one network changes nothing of the other (bitwise), in every framework alike."""
        names = set(networks)
        keep = {}
        for name in names:
            for k, v in self.model.backend.get_weights(self.model.built(name)).items():
                if k.endswith(BUFFERS):
                    keep[k] = v
        try:
            yield
        finally:
            if keep:
                for name in names:
                    self.model.backend.set_weights(
                        self.model.built(name),
                        {k: v for k, v in keep.items() if k.startswith(name + ".")},
                    )

    def step(
        self,
        s: int,
        batch: tuple[np.ndarray, np.ndarray | None],
        next_batch: Callable[[], tuple[np.ndarray, np.ndarray | None]],
    ) -> dict[str, Any]:
        """One numbered step; ``next_batch`` gives the extra real batches of k > 1. A
        supervised recipe's ``shift`` augments the batch first (`triptych.engine.augment`)."""
        if self.recipe.kind == "supervised" and self.recipe.shift:
            batch = (augment(batch[0], self.recipe.shift, self.seed, s), batch[1])
        if self.exact_dropout and self.dropout_nets:
            run_masked = self._run_masked()
            if run_masked is not None:
                x, y = batch
                return {"loss": run_masked(x, y, self._masks(s, len(x)))}
            with exact_masks(self.model, self.dropout_nets, len(batch[0]), self.seed, s):
                return self._step(s, batch, next_batch)
        return self._step(s, batch, next_batch)

    def _masks(self, s: int, batch: int) -> Any:
        """Step ``s``'s exact-Dropout masks for ``run_masked`` (a batch of ``batch``), as the
        step's ``prepare_masks`` makes them where it has one, drawn a block of steps at a time,
        the next block on a helper thread (`MasksAhead`: the same numbers, cheaper)."""
        if self._ahead is None:
            nets = self.model.spec.networks
            prepare = getattr(self.steps["main"], "prepare_masks", None)
            self._ahead = MasksAhead({n: nets[n] for n in self.dropout_nets}, prepare)
        return self._ahead.get(self.seed, s, batch)

    def close(self) -> None:
        """End the helper thread drawing exact Dropout's masks ahead, if one started (the
        trainer still works: it then draws them in place)."""
        if self._ahead is not None:
            self._ahead.close()

    def _run_masked(self) -> Callable[..., Any] | None:
        """The supervised step's ``run_masked(x, y, masks)`` where the backend has one and
        the steps are lazy: exact Dropout with the masks handed to the step (TensorFlow and
        Sonnet assign them inside the step's graph, cheaper than `exact_masks`' eager
        assignments; the same numbers, `tests/training/test_read_back.py`)."""
        if not self.lazy or self.recipe.kind != "supervised":
            return None
        return getattr(self.steps["main"], "run_masked", None)

    def _step(
        self,
        s: int,
        batch: tuple[np.ndarray, np.ndarray | None],
        next_batch: Callable[[], tuple[np.ndarray, np.ndarray | None]],
    ) -> dict[str, Any]:
        x, y = batch
        r = self.recipe
        if r.kind == "supervised":
            return {"loss": self._call("main", x, y)}
        rng = D.noise_stream(self.seed, f"step/{s}")
        out: dict[str, Any] = {}
        if r.kind == "adversarial":
            latent = self.model.spec.networks[self.gen_chain[0]].input_shape
            for i in range(r.k):
                real = x if i == 0 else next_batch()[0]
                z = rng.standard_normal((len(real), *latent)).astype(np.float32)
                out.update(self.discriminator_update(real, z))
            z = rng.standard_normal((len(x), *latent)).astype(np.float32)
            g = self.generator_update(z)
            out.update({"g_loss": g["adv"], "loss": g["loss"]})
            return out
        x_in, weight = corrupt(x, r, rng)
        if "d" in self.steps:
            for i in range(r.k):
                real = x if i == 0 else next_batch()[0]
                real_in, _ = corrupt(real, r, rng) if i else (x_in, None)
                out.update(self.discriminator_update(real, real_in))
        out.update(self.generator_update(x_in, x, weight))
        return out

    def discriminator_update(self, real: np.ndarray, g_input: np.ndarray) -> dict[str, float]:
        """One D step: ``real`` labelled real, G(``g_input``) labelled fake; only D changes
        (G runs in train mode, its BN statistics restored)."""
        return self._call("d", real, self._generate(g_input))

    def generator_update(
        self,
        g_input: np.ndarray,
        target: np.ndarray | None = None,
        weight: np.ndarray | None = None,
    ) -> dict[str, float]:
        """One G step (through D when adversarial): only G changes; D's parameters are not
        in G's optimizer and D's BN statistics are restored afterwards."""
        with self._frozen_buffers(["discriminator"] if "d" in self.steps else []):
            return self._call("g", g_input, target, weight)
