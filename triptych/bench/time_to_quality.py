"""Time to quality (MLPerf Training's metric): training wall time until a quality target is
met, from the same initial weights (canonical init, seed 0) and the same batches (the common
seeded stream) in every framework, with each model's MNIST-5k recipe.

Tasks (`TARGETS`): the CNN classifier to a held-out accuracy, the 28x28 DCGAN to an FD-MNIST
(`triptych.training.fd`), the linear autoencoder to a multiple of PCA-8's test MSE. The
quality is evaluated every ``eval_every`` steps; the clock is the sum of the training steps'
own seconds (``History``'s ``seconds``: batch, step, loss read), so evaluation time is not on
it (reported apart). A run stops at the first evaluation that meets the target, or after
``max_steps`` (then it did not reach it, and says so).

Each (task, framework) runs in its own process with the thread budget set before any
framework is imported: `triptych bench --suite ttq`, or one of them with
``python -m triptych.bench.time_to_quality TASK FRAMEWORK``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from triptych.bench.worker import ENV_RECORDED, limit_threads
from triptych.common import data as D
from triptych.common import zoo
from triptych.common.recipe import Recipe
from triptych.common.zoo_models import recipe_for_data
from triptych.model import Model, create
from triptych.training import fd
from triptych.training.evaluate import pca_baseline

DATA = "mnist"
RUN_TIMEOUT_S = 1500.0


@dataclass(frozen=True)
class Target:
    """A quality target: ``metric`` of ``model`` must reach ``threshold`` (at least, when
    ``higher_is_better``; at most otherwise), evaluated every ``eval_every`` steps, within
    ``max_steps``."""

    task: str
    model: str
    metric: str
    threshold: float
    higher_is_better: bool
    eval_every: int
    max_steps: int

    def met(self, value: float) -> bool:
        """Whether ``value`` meets the target (NaN never does)."""
        if not np.isfinite(value):
            return False
        return value >= self.threshold if self.higher_is_better else value <= self.threshold


#: Targets chosen from measurement (torch, evaluated every 50/100 steps; the calibration run
#: in benchmarks/scale/time_to_quality.md as of commit 8503360, since removed): the
#: classifier's held-out accuracy is 0.954 at step 100, 0.967 at
#: 150, then 0.966-0.971 (0.970 first at step 400); the GAN's (width 64, z 64) FD-MNIST
#: (5,000 generated vs the 5,000 real images) is 1115, 461, 304, 270, 260, 251, 239, 234 at
#: steps 100-800, so FD <= 280 falls at step 400; the linear AE's test MSE over PCA-8's
#: is 1.62, 1.35, 1.16, 1.09, 1.045, 1.034, 1.019 at steps 100-700, then 1.009-1.029 (its
#: 3000-step recipe ends at 1.015-1.017).
TARGETS: tuple[Target, ...] = (
    Target("classifier", "classifier", "held-out accuracy", 0.97, True, 50, 1000),
    Target("gan", "gan", "FD-MNIST", 280.0, False, 100, 800),
    Target("linear_autoencoder", "linear_autoencoder", "test MSE / PCA-8", 1.02, False, 100, 3000),
)


@dataclass
class Evaluation:
    step: int
    train_seconds: float  # the clock when this evaluation ran
    value: float
    eval_seconds: float


@dataclass
class Result:
    """One (task, framework) run: whether and when the target was met."""

    task: str
    framework: str
    metric: str
    threshold: float
    max_steps: int
    reached: bool = False
    steps: int | None = None  # steps run until the target was met
    seconds: float | None = None  # training clock until then
    steps_run: int = 0
    train_seconds: float = 0.0  # training clock of every step run
    eval_seconds: float = 0.0  # evaluations, not on the clock
    median_step_ms: float | None = None
    evaluations: list[Evaluation] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # `worker.ENV_RECORDED` as it ran

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TargetReached(Exception):
    """Raised from the training callback to stop at the target."""


class TargetWatch:
    """The ``fit`` callback: adds each step's seconds to the clock; every ``eval_every`` steps
    (and at ``max_steps``) times ``evaluate()`` off the clock, records it, and raises
    `TargetReached` when the target is met."""

    def __init__(
        self,
        target: Target,
        result: Result,
        evaluate: Callable[[], float],
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.target, self.result, self.evaluate, self.clock = target, result, evaluate, clock
        self.step_seconds: list[float] = []

    def __call__(self, step: int, record: dict[str, Any]) -> None:
        r = self.result
        self.step_seconds.append(float(record["seconds"]))
        r.steps_run, r.train_seconds = step, r.train_seconds + self.step_seconds[-1]
        r.median_step_ms = float(np.median(self.step_seconds)) * 1000
        if step % self.target.eval_every and step != self.target.max_steps:
            return
        t0 = self.clock()
        value = float(self.evaluate())
        spent = self.clock() - t0
        r.eval_seconds += spent
        r.evaluations.append(Evaluation(step, r.train_seconds, value, spent))
        if self.target.met(value):
            r.reached, r.steps, r.seconds = True, step, r.train_seconds
            raise TargetReached


def train_to_target(
    model: Model,
    data: Any,
    recipe: Recipe | None,
    target: Target,
    evaluate: Callable[[], float],
    seed: int = 0,
) -> Result:
    """Train ``model`` on ``data`` with ``recipe`` until ``evaluate()`` meets ``target`` or
    ``target.max_steps`` steps have run."""
    result = Result(target.task, model.framework, target.metric, target.threshold, target.max_steps)
    watch = TargetWatch(target, result, evaluate)
    with contextlib.suppress(TargetReached):  # the callback stops the run at the target
        model.fit(data, steps=target.max_steps, recipe=recipe, seed=seed, progress=False,
                  callback=watch)  # fmt: skip
    return result


def _accuracy(model: Model, test: Any) -> Callable[[], float]:
    return lambda: float((model.predict(test.x, batch_size=500).argmax(axis=1) == test.y).mean())


def _mse_over(model: Model, test: Any, reference: float) -> Callable[[], float]:
    return lambda: float(((model.predict(test.x, batch_size=500) - test.x) ** 2).mean()) / reference


class RealStats:
    """`triptych.training.fd.frechet_distance` with the real side (``a``) computed once: its
    mean, covariance, covariance square root and trace; `distance` gives the same number as
    ``frechet_distance(real, fake)`` (same operations in the same order; where that takes
    its sample route, `distance` calls it)."""

    def __init__(self, real: np.ndarray) -> None:
        self.real = real
        self.mu = real.mean(axis=0)
        self.cov = np.cov(real.astype(np.float64), rowvar=False)
        self.trace = np.trace(self.cov)

    @functools.cached_property
    def root(self) -> np.ndarray:
        """Σ_real^½, made at the first distance that takes the covariance route."""
        return fd._sqrtm_psd(self.cov)

    def distance(self, fake: np.ndarray) -> float:
        if fd.from_samples(len(self.real), len(fake), self.real.shape[1]):
            return fd.frechet_distance(self.real, fake)
        mu_b = fake.mean(axis=0)
        cov_b = np.cov(fake.astype(np.float64), rowvar=False)
        middle = self.root @ cov_b @ self.root
        trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
        value = ((self.mu - mu_b) ** 2).sum() + self.trace + np.trace(cov_b) - 2.0 * trace_root
        return float(max(value, 0.0))


def _fd(model: Model, real: Any) -> Callable[[], float]:
    """FD-MNIST as `triptych.training.fd.fd_digits` computes it (as many samples as real
    images from the same fixed noise, the shared cached classifier loaded in this framework),
    the real images' statistics computed once."""
    steps = recipe_for_data("classifier", DATA, zoo.entry("classifier").recipe).steps
    cache = fd.shared_classifier_cache(DATA, steps)
    classifier = fd.load_or_train_classifier(cache, model.framework, real, steps)
    stats = RealStats(fd.features(classifier, real.x)[0])
    latent = model.spec.networks["generator"].input_shape
    n = max(fd.N_GENERATED, len(real.x))
    z = D.noise_stream(7, "fd/z").standard_normal((n, *latent)).astype(np.float32)

    def value() -> float:
        fake01 = (model.predict(z, network="generator", batch_size=250) + 1.0) / 2.0
        fake_feats, _ = fd.features(classifier, np.clip(fake01, 0.0, 1.0).astype(np.float32))
        return stats.distance(fake_feats)

    return value


def run_one(target: Target, framework: str, threads: int = 2, seed: int = 0) -> Result:
    """One task in one framework, in this process (threads set by the caller's process)."""
    recipe = recipe_for_data(target.model, DATA, zoo.entry(target.model).recipe)
    if target.task == "gan":
        train = D.load(DATA, recipe.scale)
        real = D.load(DATA, "unit")
        model = create(target.model, framework=framework, seed=seed, image_shape=train.image_shape)
        evaluate = _fd(model, real)
    else:
        train, test = D.load_train_test(DATA, recipe.scale)
        model = create(target.model, framework=framework, seed=seed, image_shape=train.image_shape)
        if target.higher_is_better:
            evaluate = _accuracy(model, test)
        else:
            evaluate = _mse_over(model, test, pca_baseline(train, test, 8)[0])
    model.backend.set_threads(threads)
    result = train_to_target(model, train, recipe, target, evaluate, seed)
    result.env = {k: os.environ[k] for k in ENV_RECORDED if k in os.environ}
    return result


def target_named(task: str) -> Target:
    for t in TARGETS:
        if t.task == task:
            return t
    raise ValueError(f"unknown task {task!r}; allowed: {', '.join(t.task for t in TARGETS)}")


def run_all(
    frameworks: list[str],
    targets: tuple[Target, ...] = TARGETS,
    threads: int = 2,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Every (task, framework), each in its own process; a failed run is recorded with its
    error. Returns the document `triptych.bench.ttq_report` renders."""
    load_before = [round(v, 2) for v in os.getloadavg()]
    t0 = time.perf_counter()
    runs = []
    for target in targets:
        for fw in frameworks:
            run = run_subprocess(target, fw, threads)
            runs.append(run)
            if on_done is not None:
                on_done(run)
    return {
        "suite": "ttq",
        "data": DATA,
        "threads": threads,
        "targets": [asdict(t) for t in targets],
        "runs": runs,
        "load_before": load_before,
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "wall_s": time.perf_counter() - t0,
    }


def run_subprocess(target: Target, framework: str, threads: int) -> dict[str, Any]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "triptych.bench.time_to_quality", target.task, framework]
    try:
        proc = subprocess.run(
            [
                *cmd,
                "--threads",
                str(threads),
                "--threshold",
                repr(target.threshold),
                "--max-steps",
                str(target.max_steps),
                "--eval-every",
                str(target.eval_every),
            ],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return _failed(target, framework, f"no result within {RUN_TIMEOUT_S:.0f} s")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        err = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return _failed(target, framework, (err[-1] if err else f"exit {proc.returncode}")[:500])
    return {"status": "ok", **json.loads(lines[-1][len("RESULT ") :])}


def _failed(target: Target, framework: str, error: str) -> dict[str, Any]:
    return {"status": "failed", "task": target.task, "framework": framework, "error": error}


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="one time-to-quality run; prints RESULT <json>")
    p.add_argument("task", choices=[t.task for t in TARGETS])
    p.add_argument("framework")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--threshold", type=float, help="override the task's target (calibration)")
    p.add_argument("--max-steps", type=int, help="override the task's step limit")
    p.add_argument("--eval-every", type=int, help="override the task's evaluation interval")
    args = p.parse_args(argv)
    limit_threads(args.threads)
    target = target_named(args.task)
    changes = {
        "threshold": args.threshold,
        "max_steps": args.max_steps,
        "eval_every": args.eval_every,
    }
    target = Target(**{**asdict(target), **{k: v for k, v in changes.items() if v is not None}})
    result = run_one(target, args.framework, args.threads)
    print("RESULT " + json.dumps(result.to_dict()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
