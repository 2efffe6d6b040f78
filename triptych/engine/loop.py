"""`fit`: the training loop every framework shares.

Per step s (1-based): the next batch of the seeded stream (`data.batches`, reshuffled every
epoch) and a per-step noise stream ``noise_stream(seed, f"step/{s}")`` for corruptions and
GAN z, so a resumed run sees exactly the numbers an uninterrupted one would. The framework
only supplies the step objects (see each backend's ``train.py``).

Kinds:
  * ``reconstruction``: encoder → decoder on the (corrupted) input, loss against the clean
    image (on the hole only for context encoders), optional L1 on the code, optional
    adversarial term (then k discriminator steps per generator step);
  * ``adversarial`` (GAN): k discriminator steps on (real batch, G(z) in train mode), then
    one generator step through D with D's weights fixed (non-saturating loss);
  * ``supervised``: cross-entropy on labels through the main chain.

Read-back: `fit` runs the backends' steps with ``run`` (values stay native scalars: no host
sync per step) and reads them back in one go (the backend's ``to_floats``) every
``recipe.log_every`` steps, at checkpoints, at the end, and after every step when a
``callback`` wants its record; the history holds the same numbers as reading each step's.
A backend without ``run``/``to_floats`` is read back step by step.

Exact Dropout: per step, the masks of `triptych.common.dropout` are set on the networks
(`exact_masks`), or, for supervised training with lazy steps where the backend's step has
``run_masked`` (TensorFlow, Sonnet), handed to the step as inputs of its graph (the same
numbers, without an eager assignment per step), drawn and converted (the step's
``prepare_masks``) a block of steps at a time, the next block on a helper thread
(`triptych.engine.masks`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from triptych.common import data as D
from triptych.common.progress import StepBar, step_bar
from triptych.common.recipe import Recipe
from triptych.engine.checkpoint import load_checkpoint, one_writer, save_checkpoint
from triptych.engine.history import History
from triptych.engine.trainer import Trainer
from triptych.frameworks.base import ModelLike


@one_writer  # one process per run directory: run_dir/.lock, held for the whole fit
def fit(
    model: ModelLike,
    data: D.Dataset,
    recipe: Recipe,
    steps: int | None = None,
    *,
    seed: int = 0,
    progress: bool = True,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    callback: Callable[[int, dict[str, Any]], None] | None = None,
    frozen: set[tuple[str, int]] | None = None,
    lr_mult: dict[tuple[str, int], float] | None = None,
    exact_dropout: bool = True,
) -> History:
    """Train ``model`` for ``steps`` (default ``recipe.steps``) steps; returns the history.

    With ``out_dir``: checkpoints every ``recipe.checkpoint_every`` steps and at the end,
    history JSON/CSV beside them; ``resume=True`` continues from the checkpoint there.
    ``callback(step, record)`` runs after every step (sample grids, logging). ``frozen``
    (network, layer) pairs and ``lr_mult`` apply to supervised training (transfer learning).
    ``exact_dropout``: Dropout masks from the common stream per (seed, step, network, layer),
    the same in every framework and after a resume (default on; False: the framework's own
    RNG, seeded per run).
    """
    total = int(steps or recipe.steps)
    trainer = Trainer(model, recipe, seed, frozen, lr_mult, exact_dropout, lazy=True)
    history, start = History(), 0
    if resume:
        if out_dir is None:
            raise ValueError("resume needs the run directory (out_dir) of the earlier run")
        start, seed, records = load_checkpoint(out_dir, model, trainer.steps)
        trainer.seed = seed  # the checkpoint's streams, whatever seed the caller passed
        history = History(records)  # the checkpoint's own history, up to its step
    # Without exact_dropout, Dropout masks come from the framework's own RNG: seeded here, so
    # a run is repeatable in its framework (not across frameworks; a resume draws new masks)
    model.backend.seed_rng(list(model.built_networks().values()), seed * 1_000_003 + start)
    stream = D.batches(data, recipe.batch, seed=seed)
    for _ in range(batches_used(recipe, start)):
        next(stream)
    bar = step_bar(progress, total, start, f"train {model.spec.name} · {model.framework}")
    log = StepLog(trainer, history, bar, callback)
    try:
        for s in range(start + 1, total + 1):
            checkpoint = out_dir is not None and (s % recipe.checkpoint_every == 0 or s == total)
            run_step(trainer, s, stream, log)
            if callback is not None or checkpoint or s % recipe.log_every == 0 or s == total:
                log.flush()
            if checkpoint:
                save_checkpoint(out_dir, model, s, recipe.to_json(), trainer.steps, seed, history)
                history.save(out_dir)  # the user's copy; resume reads the checkpoint's
    finally:
        trainer.close()
        if bar is not None:
            bar.close()
    return history


class StepLog:
    """Step records whose values are still native scalars, read back together by `flush`
    into ``history`` as ``{"step", <values as floats>..., "seconds"}`` (then the callback
    and the progress bar's metrics, per record in order). ``seconds``: the step's wall time;
    the read-back's wall time is added to the last step flushed, so the column sums to the
    loop's time even where a framework runs asynchronously (MXNet)."""

    def __init__(
        self,
        trainer: Trainer,
        history: History,
        bar: StepBar | None = None,
        callback: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> None:
        self.trainer, self.history, self.bar, self.callback = trainer, history, bar, callback
        self.pending: list[tuple[int, dict[str, Any], float]] = []

    def add(self, s: int, values: dict[str, Any], seconds: float) -> None:
        self.pending.append((s, values, seconds))
        if self.bar is not None:
            self.bar.update(1, None)

    def flush(self) -> None:
        if not self.pending:
            return
        t0 = time.perf_counter()
        flat = self.trainer.to_floats([v for _, values, _ in self.pending for v in values.values()])
        records, i = [], 0
        for s, values, seconds in self.pending:
            n = len(values)
            records.append({"step": s, **dict(zip(values, flat[i : i + n], strict=True))})
            records[-1]["seconds"] = seconds
            i += n
        records[-1]["seconds"] += time.perf_counter() - t0
        self.pending.clear()
        for record in records:
            self.history.append(record)
            if self.callback is not None:
                self.callback(record["step"], record)
        if self.bar is not None:
            self.bar.update(0, records[-1])


def run_step(trainer: Trainer, s: int, stream: Iterator[Any], log: StepLog) -> None:
    """Step ``s`` on the stream's next batch (k > 1 draws more), its values into ``log``."""
    t0 = time.perf_counter()
    values = trainer.step(s, next(stream), lambda: next(stream))
    log.add(s, values, time.perf_counter() - t0)


def batches_used(recipe: Recipe, steps_done: int) -> int:
    """Real batches consumed by ``steps_done`` steps (k per step when a D trains)."""
    per_step = recipe.k if (recipe.kind == "adversarial" or recipe.adv_weight > 0) else 1
    return steps_done * per_step
