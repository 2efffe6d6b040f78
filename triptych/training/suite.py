"""The tour's training part: every autoencoder and the GAN of the zoo in every framework
with its recipe: metrics, pictures, the linear-AE-vs-PCA numbers, the cross-framework spread
of final losses, FD-digits and the GAN loss curves side by side."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from triptych.common import data as D
from triptych.common import zoo

AUTOENCODERS = (
    "autoencoder",
    "linear_autoencoder",
    "sparse_autoencoder",
    "denoising_autoencoder",
    "conv_autoencoder",
    "context_encoder",
)
PCA_CODE = 8


def train_autoencoders(
    frameworks: list[str], out_dir: Path, *, quick: bool = True, seed: int = 0, on_done: Any = None
) -> dict[str, Any]:
    """Train, evaluate and draw each autoencoder in each framework under ``out_dir``.

    ``on_done(name, framework)`` is called after each run (for a progress bar).
    """
    import triptych
    from triptych.training.evaluate import evaluate, max_principal_angle_deg, pca_baseline
    from triptych.training.pictures import reconstruction_pictures

    train, test = D.load_digits().split(0.2, seed=0)
    results: dict[str, Any] = {"quick": quick, "models": {}}
    pca_mse, components = pca_baseline(train, test, PCA_CODE)
    results["pca"] = {"code": PCA_CODE, "test_mse": pca_mse}
    for name in AUTOENCODERS:
        recipe = zoo.entry(name).recipe
        variants = {"": recipe}
        if recipe.l1 > 0:  # the sparse AE is compared with the same net without the penalty
            variants["l1=0"] = recipe.with_(l1=0.0)
        for tag, r in variants.items():
            key = f"{name} ({tag})" if tag else name
            runs: dict[str, Any] = {}
            for fw in frameworks:
                model = triptych.create(name, framework=fw, seed=seed)
                steps = r.quick_steps if quick else r.steps
                t0 = time.perf_counter()
                history = model.fit(train, steps=steps, recipe=r, progress=False)
                run_dir = out_dir / f"{name}{'-' + tag.replace('=', '') if tag else ''}-{fw}"
                metrics = evaluate(model, test, r, train)
                metrics.update(
                    steps=steps,
                    seconds=time.perf_counter() - t0,
                    final_loss=history.last("loss", 20),
                )
                picture = reconstruction_pictures(model, test, r, run_dir)
                metrics["picture"] = str(picture)
                if name == "linear_autoencoder":
                    decoder = model.get_weights()["decoder.0.weight"]
                    metrics["mse_over_pca"] = metrics["test_mse"] / pca_mse
                    metrics["max_angle_deg"] = max_principal_angle_deg(decoder, components)
                runs[fw] = metrics
                if on_done is not None:
                    on_done(key, fw)
            finals = [m["final_loss"] for m in runs.values()]
            spread = (max(finals) - min(finals)) / min(finals) if len(finals) > 1 else 0.0
            results["models"][key] = {"runs": runs, "final_loss_spread": spread}
    return results


def count_runs(frameworks: list[str]) -> int:
    """How many (model, variant, framework) runs `train_autoencoders` + `train_gans` make."""
    variants = sum(2 if zoo.entry(n).recipe.l1 > 0 else 1 for n in AUTOENCODERS)
    return (variants + 1) * len(frameworks)


def train_gans(
    frameworks: list[str], out_dir: Path, *, quick: bool = True, seed: int = 0, on_done: Any = None
) -> dict[str, Any]:
    """The GAN in every framework from the same weights, noise and batches: FD-digits vs the
    untrained generator, D-accuracy trend, sample grids, and the loss curves side by side."""
    import triptych
    from triptych.training.gan_pictures import gan_summary, loss_curves_plot

    recipe = zoo.entry("gan").recipe
    steps = recipe.quick_steps if quick else recipe.steps
    data = D.load_digits(recipe.scale)
    runs, histories = {}, {}
    for fw in frameworks:
        model = triptych.create("gan", framework=fw, seed=seed)
        run_dir = out_dir / f"gan-{fw}"
        t0 = time.perf_counter()
        history = model.fit(data, steps=steps, recipe=recipe, progress=False, out_dir=run_dir)
        metrics = gan_summary(model, history, run_dir, seed=seed)
        metrics.update(
            steps=steps,
            seconds=time.perf_counter() - t0,
            samples=str(run_dir / "samples.png"),
            d_accuracy=str(run_dir / "d_accuracy.png"),
        )
        runs[fw], histories[fw] = metrics, history
        if on_done is not None:
            on_done("gan", fw)
    curves = loss_curves_plot(histories, out_dir / "gan_losses.png", "GAN")
    return {"steps": steps, "runs": runs, "loss_curves": str(curves)}
