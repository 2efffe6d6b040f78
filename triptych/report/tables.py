"""Terminal summary tables of a tour run (rich)."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def worst(parity: dict[str, Any], level: int) -> float:
    """Worst max |diff| of one parity level over every check."""
    values = [
        c["comparison"]["outputs"][0]["max_abs"]
        for c in parity["checks"]
        if c["level"] == level and c["comparison"]["outputs"]
    ]
    return max(values, default=float("nan"))


def training_loss_spread(parity: dict[str, Any]) -> float | None:
    train = parity.get("training")
    if not train:
        return None
    return max((q["max_rel_loss"] for q in train["pairs"].values()), default=float("nan"))


def parity_summary(part: dict[str, Any]) -> Table:
    t = Table(
        title="parity per model (worst max |diff| per level; every framework, batch 1 and 37)"
    )
    for col in (
        "model",
        "L1 native vs ORT",
        "L2 ORT vs reference",
        "L3 cross-framework",
        "L4 training (rel loss)",
        "weights round trip",
        "result",
    ):
        t.add_column(col, no_wrap=True)
    for m, row in part["models"].items():
        p = row["parity"]
        l4 = training_loss_spread(p)
        t.add_row(
            m,
            *(f"{worst(p, lv):.2e}" for lv in (1, 2, 3)),
            "-" if l4 is None else f"{l4:.2e}",
            "bitwise" if row["weights_round_trip_exact"] else "[red]differs[/]",
            "[green]pass[/]" if p["passed"] else "[red]FAIL[/]",
        )
    return t


TRAIN_COLUMNS = (
    ("final_loss", "final loss"),
    ("test_mse", "test MSE"),
    ("psnr", "PSNR dB"),
    ("noisy_mse", "MSE on noisy in"),
    ("code_sparsity", "code sparsity"),
    ("hole_psnr", "hole PSNR dB"),
    ("mean_fill_psnr", "mean-fill PSNR dB"),
)


def training_summary(part: dict[str, Any]) -> Table:
    t = Table(
        title=f"autoencoders trained in every framework ({'quick' if part['quick'] else 'full'}"
        f" recipes); PCA-8 test MSE {part['pca']['test_mse']:.5f}"
    )
    t.add_column("model", no_wrap=True)
    t.add_column("framework", no_wrap=True)
    t.add_column("steps", justify="right")
    for _, label in TRAIN_COLUMNS:
        t.add_column(label, justify="right")
    t.add_column("loss spread", justify="right")
    for name, model in part["models"].items():
        for i, (fw, m) in enumerate(model["runs"].items()):
            cells = [f"{m[k]:.4g}" if k in m else "-" for k, _ in TRAIN_COLUMNS]
            t.add_row(
                name if i == 0 else "",
                fw,
                str(m["steps"]),
                *cells,
                f"{model['final_loss_spread']:.1%}" if i == 0 else "",
            )
    return t


def gan_summary_table(part: dict[str, Any]) -> Table:
    t = Table(title=f"GAN in every framework ({part['steps']} steps, same weights, noise, batches)")
    for col in (
        "framework",
        "FD-digits",
        "untrained",
        "improvement",
        "confidence",
        "D acc real peak→last",
        "D acc fake peak→last",
        "toward 50 %",
    ):
        t.add_column(col, no_wrap=True)
    for fw, m in part["runs"].items():
        t.add_row(
            fw,
            f"{m['fd_digits']:.2f}",
            f"{m['fd_digits_untrained']:.1f}",
            f"{m['fd_improvement']:.1f}×",
            f"{m['mean_max_confidence']:.3f}",
            f"{m['acc_real_peak']:.2f}→{m['acc_real_last']:.2f}",
            f"{m['acc_fake_peak']:.2f}→{m['acc_fake_last']:.2f}",
            "yes" if m["toward_50_percent"] else "no",
        )
    return t
