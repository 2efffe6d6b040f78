"""The lecture's models on MNIST-5k at 28×28: every model in every framework with its MNIST
recipe (`triptych.common.zoo_models.DATA_RECIPE_CHANGES`), one table per model in
``benchmarks/mnist.md`` (quality metric, training time, final-loss spread across frameworks),
the numbers in ``benchmarks/mnist.json`` and the GAN sample grids in ``benchmarks/mnist/``.

Run ``python -m triptych.training.mnist_suite [-f FW ...] [--models M ...]``. Each finished
model is saved to the JSON at once and skipped when the command runs again (``--fresh``
starts over), so a long run can be stopped and continued.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from triptych.common import data as D
from triptych.common import zoo
from triptych.common.machine import cpu_name
from triptych.common.weights import write_text_atomic
from triptych.common.zoo_models import recipe_for_data
from triptych.frameworks.base import available
from triptych.model import create
from triptych.training.fd import shared_classifier_cache
from triptych.training.mnist_tables import render
from triptych.training.suite import AUTOENCODERS, train_autoencoders, train_gans

DATA = "mnist"
#: the classifiers (test accuracy), then the autoencoders and the GAN
CLASSIFIERS = ("classifier", "vit_tiny")
MODELS = (*CLASSIFIERS, *AUTOENCODERS, "gan")


@dataclass
class ClassifierRun:
    """The CNN classifier trained on the 4,000 training images, tested on the 1,000."""

    framework: str
    steps: int
    seconds: float
    final_loss: float
    test_accuracy: float


def train_classifiers(
    frameworks: list[str], quick: bool = False, seed: int = 0, name: str = "classifier"
) -> list[dict]:
    """Zoo classifier ``name`` (default the CNN; ``vit_tiny``) trained with its MNIST recipe
    in each framework from seed ``seed``; its test accuracy on the 1,000 held out."""
    recipe = recipe_for_data(name, DATA, zoo.entry(name).recipe)
    steps = recipe.quick_steps if quick else recipe.steps
    train, test = D.load_train_test(DATA, recipe.scale)
    runs = []
    for fw in frameworks:
        model = create(name, framework=fw, seed=seed, image_shape=train.image_shape)
        t0 = time.perf_counter()
        history = model.fit(train, steps=steps, recipe=recipe, progress=False)
        seconds = time.perf_counter() - t0
        accuracy = float((model.predict(test.x, batch_size=500).argmax(axis=1) == test.y).mean())
        run = ClassifierRun(fw, steps, seconds, history.last("loss", 20), accuracy)
        runs.append(asdict(run))
    return runs


def run_model(
    name: str, frameworks: list[str], out_dir: Path, bench_dir: Path, quick: bool
) -> dict[str, Any]:
    """The result of one model (JSON-ready): its runs per framework."""
    if name in CLASSIFIERS:
        return {"runs": train_classifiers(frameworks, quick, name=name), "cpu": cpu_name(),
                "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    if name == "gan":
        fd_steps = recipe_for_data("classifier", DATA, zoo.entry("classifier").recipe).steps
        part = train_gans(
            frameworks, out_dir, out_dir, quick=quick, data=DATA,
            classifier_steps=fd_steps,
            classifier_cache=shared_classifier_cache(DATA, fd_steps),
        )  # fmt: skip
        grids = bench_dir / "mnist"
        grids.mkdir(parents=True, exist_ok=True)
        for run in part.runs:
            for picture in ("samples", "d_accuracy"):
                target = grids / f"gan-{picture}-{run.framework}.png"
                shutil.copyfile(out_dir / f"gan-{run.framework}" / f"{picture}.png", target)
        shutil.copyfile(out_dir / part.loss_curves, grids / "gan-losses.png")
        return part.to_dict()
    part = train_autoencoders(frameworks, out_dir, out_dir, quick=quick, data=DATA, models=(name,))
    return part.to_dict()


def run_suite(
    frameworks: list[str],
    models: tuple[str, ...] = MODELS,
    out_dir: Path = Path("runs/mnist"),
    bench_dir: Path = Path("benchmarks"),
    quick: bool = False,
    fresh: bool = False,
) -> dict[str, Any]:
    """Train the ``models`` not yet in ``bench_dir/mnist.json`` and rewrite it and
    ``mnist.md`` after each one; returns the JSON content."""
    json_path = bench_dir / "mnist.json"
    results: dict[str, Any] = {}
    if json_path.exists() and not fresh:
        results = json.loads(json_path.read_text())
    results.setdefault("models", {})
    results.update(frameworks=frameworks, quick=quick, data=DATA)
    for name in models:
        if name in results["models"]:
            continue
        t0 = time.perf_counter()
        results["models"][name] = run_model(name, frameworks, out_dir, bench_dir, quick)
        print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
        write_text_atomic(json_path, json.dumps(results, indent=1, default=float))
        write_text_atomic(bench_dir / "mnist.md", render(results))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-f", "--framework", action="append", help="default: every installed")
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=MODELS)
    parser.add_argument("--out", default="runs/mnist", help="run directories")
    parser.add_argument("--bench", default="benchmarks", help="where mnist.md/json go")
    parser.add_argument("--quick", action="store_true", help="the quick_steps recipes")
    parser.add_argument("--fresh", action="store_true", help="ignore results already saved")
    args = parser.parse_args(argv)
    run_suite(
        args.framework or available(),
        tuple(args.models),
        Path(args.out),
        Path(args.bench),
        args.quick,
        args.fresh,
    )


if __name__ == "__main__":
    main()
