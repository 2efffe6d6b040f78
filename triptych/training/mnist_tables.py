"""Markdown of the MNIST-5k suite (`triptych.training.mnist_suite`): one table per model with
its quality metric, training time (seconds, wall clock on the machine that ran it) and the
final-loss spread across frameworks, (max − min) / min of the mean of the last 20 steps."""

from __future__ import annotations

from typing import Any

TITLES = {
    "classifier": "CNN classifier (test accuracy on the 1,000 held-out images)",
    "vit_tiny": "ViT-tiny (patch 7, 4 blocks; test accuracy on the 1,000 held-out images)",
    "autoencoder": "Dense autoencoder (784 -> 64 -> 16 -> 64 -> 784, sigmoid)",
    "linear_autoencoder": "Linear autoencoder against PCA (k = 8)",
    "sparse_autoencoder": "Sparse (overcomplete, 1,568 ReLU units) with and without L1",
    "denoising_autoencoder": "Denoising autoencoder against the plain one on noisy inputs",
    "conv_autoencoder": "Convolutional autoencoder",
    "context_encoder": "Context encoder (centre hole 14×14) against the mean fill",
    "vit_mae": "Masked autoencoder (ViT) on the context encoder's hole, and on 75 % of the patches",
    "gan": "DCGAN 28×28 (FD-MNIST: Fréchet distance in the MNIST classifier's features)",
}


def spread(values: list[float]) -> float:
    """(max − min) / min; 0 for fewer than two values."""
    return (max(values) - min(values)) / min(values) if len(values) > 1 else 0.0


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
    ]


def _ae_rows(runs: list[dict], columns: list[tuple[str, str]]) -> list[list[str]]:
    rows = []
    for r in runs:
        cells = [r["model"], r["framework"], str(r["steps"]), f"{r['seconds']:.0f}"]
        cells.append(f"{r['final_loss']:.5f}")
        for key, fmt in columns:
            value = r.get(key, r["metrics"].get(key))
            cells.append("-" if value is None else format(value, fmt))
        rows.append(cells)
    return rows


AE_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "autoencoder": [("test_mse", ".5f"), ("psnr", ".2f"), ("noisy_mse", ".5f")],
    "linear_autoencoder": [("test_mse", ".5f"), ("mse_over_pca", ".4f"), ("max_angle_deg", ".1f")],
    "sparse_autoencoder": [("test_mse", ".5f"), ("code_sparsity", ".3f"), ("code_mean_abs", ".4f")],
    "denoising_autoencoder": [
        ("noisy_input_mse", ".5f"),
        ("noisy_mse", ".5f"),
        ("test_mse", ".5f"),
    ],
    "conv_autoencoder": [("test_mse", ".5f"), ("psnr", ".2f")],
    "context_encoder": [("hole_psnr", ".2f"), ("mean_fill_psnr", ".2f"), ("hole_mse", ".5f")],
    "vit_mae": [("hole_psnr", ".2f"), ("mean_fill_psnr", ".2f"), ("patches_psnr", ".2f")],
}
NAMES = {
    "test_mse": "test MSE",
    "psnr": "PSNR dB",
    "noisy_mse": "MSE on noisy input",
    "mse_over_pca": "MSE / PCA-8",
    "max_angle_deg": "max angle to PCA °",
    "code_sparsity": "share of code units < 0.01",
    "code_mean_abs": "mean abs code",
    "noisy_input_mse": "noisy input MSE",
    "hole_psnr": "hole PSNR dB",
    "mean_fill_psnr": "mean-fill PSNR dB",
    "hole_mse": "hole MSE",
    "patches_psnr": "masked-patches PSNR dB",
}


def _autoencoder(name: str, part: dict[str, Any], plain: dict | None) -> list[str]:
    columns = AE_COLUMNS[name]
    header = ["model", "framework", "steps", "s", "final loss", *(NAMES[k] for k, _ in columns)]
    lines = _table(header, _ae_rows(part["runs"], columns))
    for model, value in part["spread"].items():
        lines.append(f"Final-loss spread across frameworks, {model}: {100 * value:.2f} %.")
    if name == "linear_autoencoder":
        lines.append(f"PCA-{part['pca_code']} test MSE: {part['pca_test_mse']:.5f}.")
    if name == "denoising_autoencoder" and plain is not None:
        noisy = ", ".join(
            f"{r['framework']} {r['metrics']['noisy_mse']:.5f}" for r in plain["runs"]
        )
        lines.append(f"The plain autoencoder on the same noisy inputs (MSE to clean): {noisy}.")
    return [*lines, ""]


def _classifier(part: dict[str, Any]) -> list[str]:
    rows = [
        [r["framework"], str(r["steps"]), f"{r['seconds']:.0f}", f"{r['final_loss']:.4f}",
         f"{r['test_accuracy']:.3f}"]
        for r in part["runs"]
    ]  # fmt: skip
    lines = _table(["framework", "steps", "s", "final loss", "test accuracy"], rows)
    finals = [r["final_loss"] for r in part["runs"]]
    lines.append(f"Final-loss spread across frameworks: {100 * spread(finals):.1f} %.")
    if "cpu" in part:
        lines.append(f"Measured {part['date']} on {part['cpu']}.")
    return [*lines, ""]


def _gan(part: dict[str, Any]) -> list[str]:
    header = ["framework", "steps", "s", "final D / G loss", "FD-MNIST", "untrained", "ratio",
              "confidence", "D acc real peak→last", "D acc fake peak→last"]  # fmt: skip
    rows = [
        [r["framework"], str(r["steps"]), f"{r['seconds']:.0f}",
         f"{r['final_d_loss']:.3f} / {r['final_g_loss']:.3f}", f"{r['fd_digits']:.2f}",
         f"{r['fd_digits_untrained']:.1f}", f"{r['fd_improvement']:.1f}×",
         f"{r['confidence']:.2f} (untrained {r['confidence_untrained']:.2f})",
         f"{r['acc_real_peak']:.2f} → {r['acc_real_last']:.2f}",
         f"{r['acc_fake_peak']:.2f} → {r['acc_fake_last']:.2f}"]
        for r in part["runs"]
    ]  # fmt: skip
    lines = _table(header, rows)
    for key in ("final_d_loss", "final_g_loss"):
        values = [r[key] for r in part["runs"]]
        lines.append(f"Spread across frameworks of {key}: {100 * spread(values):.1f} %.")
    grids = " ".join(
        f"![{r['framework']}](mnist/gan-samples-{r['framework']}.png)" for r in part["runs"]
    )
    return [*lines, "", grids, "", "D accuracy: " + ", ".join(
        f"[{r['framework']}](mnist/gan-d_accuracy-{r['framework']}.png)" for r in part["runs"]
    ) + "; losses: [side by side](mnist/gan-losses.png).", ""]  # fmt: skip


def render(results: dict[str, Any]) -> str:
    """The whole page from the suite's JSON (models not yet run are left out)."""
    models = results["models"]
    lines = [
        "# The lecture's models on MNIST-5k (28×28)",
        "",
        "Generated by `python -m triptych.training.mnist_suite`: each model in "
        f"{', '.join(results['frameworks'])} from the same initial weights on the same "
        "batches, with its MNIST recipe (`DATA_RECIPE_CHANGES` in "
        "`triptych/common/zoo_models.py`). Training on the fixed stratified 4,000 images, "
        "metrics on the 1,000 held out (the GAN trains on all 5,000). Seconds: training "
        "wall clock on 2 shared CPU cores (evaluation not included).",
        "",
    ]
    lines += [*results.get("notes", []), ""] if results.get("notes") else []
    for name, title in TITLES.items():
        if name not in models:
            continue
        lines += [f"## {title}", ""]
        if name in ("classifier", "vit_tiny"):
            lines += _classifier(models[name])
        elif name == "gan":
            lines += _gan(models[name])
        else:
            lines += _autoencoder(name, models[name], models.get("autoencoder"))
    return "\n".join(lines)
