"""The tour's training part: every autoencoder and the GAN of the zoo in every framework
with its recipe: metrics, pictures, the linear-AE-vs-PCA numbers, the cross-framework spread
of final losses, FD-digits and the GAN loss curves side by side.

Results are typed rows (`AutoencoderRun`, `GanRun`) that every renderer (terminal, markdown,
HTML) reads; picture paths are relative to the ``root`` directory given (the run directory).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from triptych.common import data as D
from triptych.common import zoo
from triptych.common.zoo_models import recipe_for_data
from triptych.model import create
from triptych.training.evaluate import evaluate, max_principal_angle_deg, pca_baseline
from triptych.training.gan_pictures import gan_summary, loss_curves_plot
from triptych.training.pictures import reconstruction_pictures

AUTOENCODERS = (
    "autoencoder",
    "linear_autoencoder",
    "sparse_autoencoder",
    "denoising_autoencoder",
    "conv_autoencoder",
    "context_encoder",
    "vit_mae",
)
PCA_CODE = 8
OnDone = Callable[[str, str], None] | None


def _relative(path: str | os.PathLike, root: Path) -> str:
    return os.path.relpath(path, root)


@dataclass
class AutoencoderRun:
    """One autoencoder (``model``, with its variant tag) trained in one framework."""

    model: str
    framework: str
    steps: int
    seconds: float
    final_loss: float
    metrics: dict[str, float]
    picture: str
    mse_over_pca: float | None = None
    max_angle_deg: float | None = None


@dataclass
class AutoencoderPart:
    quick: bool
    pca_code: int
    pca_test_mse: float
    runs: list[AutoencoderRun] = field(default_factory=list)

    def models(self) -> list[str]:
        return list(dict.fromkeys(r.model for r in self.runs))

    def runs_of(self, model: str) -> list[AutoencoderRun]:
        return [r for r in self.runs if r.model == model]

    def spread(self, model: str) -> float:
        """(max - min) / min of the final training losses over frameworks."""
        finals = [r.final_loss for r in self.runs_of(model)]
        return (max(finals) - min(finals)) / min(finals) if len(finals) > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "spread": {m: self.spread(m) for m in self.models()}}


@dataclass
class GanRun:
    """The GAN trained in one framework: FD-digits against the untrained generator, the
    classifier's confidence, the D-accuracy trend, and the pictures."""

    framework: str
    steps: int
    seconds: float
    fd_digits: float
    fd_digits_untrained: float
    fd_improvement: float
    confidence: float
    confidence_untrained: float
    acc_real_peak: float
    acc_real_last: float
    acc_fake_peak: float
    acc_fake_last: float
    toward_50_percent: bool
    samples: str
    d_accuracy: str
    final_d_loss: float = float("nan")  # mean of the last 20 steps
    final_g_loss: float = float("nan")


@dataclass
class GanPart:
    steps: int
    loss_curves: str
    runs: list[GanRun] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_autoencoders(
    frameworks: list[str],
    out_dir: Path,
    root: Path,
    *,
    quick: bool = True,
    seed: int = 0,
    on_done: OnDone = None,
    data: str = "digits",
    models: tuple[str, ...] = AUTOENCODERS,
) -> AutoencoderPart:
    """Train, evaluate and draw each autoencoder of ``models`` in each framework under
    ``out_dir`` on ``data``'s canonical split (digits: 80/20; "mnist": 4,000/1,000) at the
    data's image size, with the model's recipe for that data (`recipe_for_data`).

    ``on_done(name, framework)`` is called after each run (for a progress bar).
    """
    train, test = D.load_train_test(data, "unit")
    pca_mse, components = pca_baseline(train, test, PCA_CODE)
    part = AutoencoderPart(quick, PCA_CODE, pca_mse)
    for name in models:
        recipe = recipe_for_data(name, data, zoo.entry(name).recipe)
        variants = {"": recipe}
        if recipe.l1 > 0:  # the sparse AE is compared with the same net without the penalty
            variants["l1=0"] = recipe.with_(l1=0.0)
        for tag, r in variants.items():
            key = f"{name} ({tag})" if tag else name
            for fw in frameworks:
                model = create(name, framework=fw, seed=seed, image_shape=train.image_shape)
                steps = r.quick_steps if quick else r.steps
                t0 = time.perf_counter()
                history = model.fit(train, steps=steps, recipe=r, progress=False)
                run_dir = out_dir / f"{name}{'-' + tag.replace('=', '') if tag else ''}-{fw}"
                metrics = evaluate(model, test, r, train)
                seconds = time.perf_counter() - t0
                picture = reconstruction_pictures(model, test, r, run_dir)
                run = AutoencoderRun(
                    key, fw, steps, seconds, history.last("loss", 20), metrics,
                    _relative(picture, root),
                )  # fmt: skip
                if name == "linear_autoencoder":
                    decoder = model.get_weights()["decoder.0.weight"]
                    run.mse_over_pca = metrics["test_mse"] / pca_mse
                    run.max_angle_deg = max_principal_angle_deg(decoder, components)
                part.runs.append(run)
                if on_done is not None:
                    on_done(key, fw)
    return part


def count_runs(frameworks: list[str]) -> int:
    """How many (model, variant, framework) runs `train_autoencoders` + `train_gans` make."""
    variants = sum(2 if zoo.entry(n).recipe.l1 > 0 else 1 for n in AUTOENCODERS)
    return (variants + 1) * len(frameworks)


def train_gans(
    frameworks: list[str],
    out_dir: Path,
    root: Path,
    *,
    quick: bool = True,
    seed: int = 0,
    on_done: OnDone = None,
    data: str = "digits",
    classifier_cache: Path | None = None,
    classifier_steps: int | None = None,
) -> GanPart:
    """The GAN in every framework from the same weights, noise and batches: FD vs the
    untrained generator, D-accuracy trend, sample grids, and the loss curves side by side.

    Trained on every image of ``data`` (digits: FD-digits; "mnist": all 5,000, FD-MNIST) at
    its image size with the GAN's recipe for that data; the FD classifier (trained for
    ``classifier_steps``) is cached at ``classifier_cache`` (default: per run directory)."""
    recipe = recipe_for_data("gan", data, zoo.entry("gan").recipe)
    steps = recipe.quick_steps if quick else recipe.steps
    images = D.load(data, recipe.scale)
    real = D.load(data, "unit")
    runs, histories = [], {}
    for fw in frameworks:
        model = create("gan", framework=fw, seed=seed, image_shape=images.image_shape)
        run_dir = out_dir / f"gan-{fw}"
        t0 = time.perf_counter()
        history = model.fit(images, steps=steps, recipe=recipe, progress=False, out_dir=run_dir)
        seconds = time.perf_counter() - t0  # training only: FD and pictures are not timed
        m = gan_summary(
            model, history, run_dir, seed=seed, real=real,
            classifier_steps=classifier_steps, classifier_cache=classifier_cache,
        )  # fmt: skip
        runs.append(
            GanRun(
                framework=fw,
                steps=steps,
                seconds=seconds,
                fd_digits=m["fd_digits"],
                fd_digits_untrained=m["fd_digits_untrained"],
                fd_improvement=m["fd_improvement"],
                confidence=m["mean_max_confidence"],
                confidence_untrained=m["mean_max_confidence_untrained"],
                acc_real_peak=m["acc_real_peak"],
                acc_real_last=m["acc_real_last"],
                acc_fake_peak=m["acc_fake_peak"],
                acc_fake_last=m["acc_fake_last"],
                toward_50_percent=bool(m["toward_50_percent"]),
                samples=_relative(run_dir / "samples.png", root),
                d_accuracy=_relative(run_dir / "d_accuracy.png", root),
                final_d_loss=history.last("d_loss", 20),
                final_g_loss=history.last("g_loss", 20),
            )
        )
        histories[fw] = history
        if on_done is not None:
            on_done("gan", fw)
    curves = loss_curves_plot(histories, out_dir / "gan_losses.png", "GAN")
    return GanPart(steps, _relative(curves, root), runs)
