"""Harness overhead: triptych's training loop against a hand-written loop in the same
framework and process, on the same network, batches and learning rate.

Run in its own process: ``python -m triptych.bench.overhead FW MODEL BATCH THREADS
[--steps N] [--rounds R] [--warmup W]`` prints a RESULT line (JSON).

Both sides train from the same seed on the same seeded batch stream (synthetic: uniform
[0, 1) images of the model's input shape, labels uniform over its classes) and read their
losses back once per block of ``steps`` steps, as a loop that logs every ``steps`` steps does:

* ``hand``: the backend's ``hand_train_step`` (`hand_train_step`: numpy batch -> native
  tensors, the framework's own Adam, the loss left native) in a plain ``for`` loop;
* ``triptych``: the steps `triptych.engine.loop.fit` runs (`Trainer` with ``lazy`` read-back
  through `StepLog`, ``log_every`` = ``steps``), with triptych's one-formula Adam
  (``adam``, what every run uses, bitwise the same formula in every framework) and with the
  framework's own Adam (``adam_native``: the harness alone, the same optimizer as ``hand``).

Supervised zoo models train cross-entropy on labels; the others their zoo recipe's
reconstruction (hand: MSE to the input). Rounds alternate the three loops (rotating their
order), each timed over a block of ``steps`` steps; the result is the median block time per
step and ``overhead`` = triptych / hand - 1 (wall clock). ``cpu_ms`` / ``cpu_overhead``: the
same from the process's CPU time per block (every thread of the process: what a loop costs
in work, helper threads included, and less sensitive to other processes' load than wall
time).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from triptych.bench.worker import limit_threads
from triptych.common import data as D
from triptych.common import zoo
from triptych.common.recipe import Optimizer, Recipe
from triptych.engine.history import History
from triptych.engine.loop import StepLog, run_step
from triptych.engine.trainer import Trainer
from triptych.frameworks.base import get_backend
from triptych.model import Model, create


def synthetic_data(model: Model, n: int, seed: int = 0) -> D.Dataset:
    """``n`` uniform [0, 1) images of the model's input shape, labels over its classes."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, *model.spec.input_shape), dtype=np.float32)
    classes = model.spec.output_shape[0] if len(model.spec.output_shape) == 1 else 10
    return D.Dataset(x, rng.integers(0, classes, n).astype(np.int64), "synthetic")


def loop_recipe(model_name: str, batch: int, steps: int, optimizer: str) -> Recipe:
    recipe = zoo.entry(model_name).recipe
    if recipe.kind == "adversarial":
        raise ValueError(f"{model_name}: no hand-written loop for adversarial training")
    opt = Optimizer(optimizer, recipe.optimizer.lr, recipe.optimizer.betas, recipe.optimizer.eps)
    return recipe.with_(batch=batch, optimizer=opt, log_every=steps, corruption="none")


def triptych_loop(
    model: Model, recipe: Recipe, data: D.Dataset
) -> tuple[Callable[[int], None], History]:
    """``run(n)``: n more steps of `fit`'s loop (lazy steps, one bulk read-back at the end),
    and the history it fills (the records `fit` would write)."""
    trainer = Trainer(model, recipe, seed=0, exact_dropout=True, lazy=True)
    model.backend.seed_rng(list(model.built_networks().values()), 0)  # as fit seeds it
    stream = D.batches(data, recipe.batch, seed=0)
    history = History()
    log = StepLog(trainer, history)
    done = [0]

    def run(n: int) -> None:
        for _ in range(n):
            done[0] += 1
            run_step(trainer, done[0], stream, log)
        log.flush()

    return run, history


def hand_train_step(model: Model) -> Callable[..., Any]:
    """The backend's ``hand_train_step``: in its ``speed`` module, else (Sonnet) in its
    ``train`` module; ValueError naming both if neither has one."""
    for module in (model.backend.speed, model.backend.train):
        step = getattr(module, "hand_train_step", None)
        if step is not None:
            return step
    raise ValueError(
        f"{model.framework} has no hand-written loop (speed.hand_train_step or "
        "train.hand_train_step)"
    )


def _hand_loop(model: Model, recipe: Recipe, data: D.Dataset) -> Callable[[int], None]:
    """``run(n)``: n hand-written steps, their losses read back together at the end."""
    supervised = recipe.kind == "supervised"
    hand_step = hand_train_step(model)
    step = hand_step(
        model.built_chain(), "cross_entropy" if supervised else "mse", recipe.optimizer.lr
    )
    to_floats = model.backend.train.to_floats
    stream = D.batches(data, recipe.batch, seed=0)
    losses: list[float] = []

    def run(n: int) -> None:
        pending = []
        for _ in range(n):
            x, y = next(stream)
            pending.append(step(x, y if supervised else x))
        losses.extend(to_floats(pending))

    return run


def measure(
    framework: str,
    model_name: str,
    batch: int,
    threads: int,
    steps: int = 20,
    rounds: int = 7,
    warmup: int = 5,
) -> dict[str, Any]:
    """The three loops on ``model_name`` at ``batch``, ``threads`` threads (see the module
    docstring); milliseconds per step and the overheads."""
    limit_threads(threads)
    get_backend(framework).set_threads(threads)
    models = {k: create(model_name, framework=framework, seed=0) for k in LOOPS}
    data = synthetic_data(models["hand"], batch * 16)
    loops = {
        "hand": _hand_loop(models["hand"], loop_recipe(model_name, batch, steps, "adam"), data),
        "triptych": triptych_loop(
            models["triptych"], loop_recipe(model_name, batch, steps, "adam"), data
        )[0],
        "triptych_native_adam": triptych_loop(
            models["triptych_native_adam"],
            loop_recipe(model_name, batch, steps, "adam_native"),
            data,
        )[0],
    }
    for run in loops.values():
        run(warmup)
    blocks: dict[str, list[float]] = {k: [] for k in loops}
    cpu: dict[str, list[float]] = {k: [] for k in loops}
    names = list(loops)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0, c0 = time.perf_counter(), time.process_time()
            loops[name](steps)
            blocks[name].append((time.perf_counter() - t0) / steps)
            cpu[name].append((time.process_time() - c0) / steps)
    ms = {k: 1000 * float(np.median(v)) for k, v in blocks.items()}
    cpu_ms = {k: 1000 * float(np.median(v)) for k, v in cpu.items()}
    return {
        "framework": framework,
        "model": model_name,
        "batch": batch,
        "threads": threads,
        "steps_per_block": steps,
        "rounds": rounds,
        "plain_ms": ms["hand"],
        "triptych_ms": ms["triptych"],
        "triptych_native_adam_ms": ms["triptych_native_adam"],
        "overhead": ms["triptych"] / ms["hand"] - 1.0,
        "overhead_native_adam": ms["triptych_native_adam"] / ms["hand"] - 1.0,
        "cpu_ms": cpu_ms,
        "cpu_overhead": cpu_ms["triptych"] / cpu_ms["hand"] - 1.0,
        "block_ms": {k: [1000 * t for t in v] for k, v in blocks.items()},
        "version": models["hand"].backend.version(),
    }


LOOPS = ("hand", "triptych", "triptych_native_adam")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="triptych's training loop vs a hand-written one")
    parser.add_argument("framework")
    parser.add_argument("model")
    parser.add_argument("batch", type=int)
    parser.add_argument("threads", type=int)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed block")
    parser.add_argument("--rounds", type=int, default=7, help="timed blocks per loop")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps per loop")
    a = parser.parse_args(argv)
    result = measure(a.framework, a.model, a.batch, a.threads, a.steps, a.rounds, a.warmup)
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
