"""PNG plots (matplotlib, Agg backend: no display needed). Written atomically."""

from __future__ import annotations

import os
from pathlib import Path

from triptych.common.weights import atomic_write
from triptych.verify.training import TrainingRun


def plot_training_parity(result: TrainingRun, path: str | os.PathLike) -> Path:
    """Left: per-step loss per framework. Right: per-step relative loss difference per pair
    (log scale) beside each framework's own float32 drift from its float64 run (dashed),
    which the derived bound is built from."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    steps = range(1, result.steps + 1)
    for fw, losses in result.losses.items():
        left.plot(steps, losses, marker="o", ms=3, label=fw)
    left.set(
        title=f"{result.model}: {result.loss} loss, {result.optimizer} lr {result.lr}, "
        f"batch {result.batch}",
        xlabel="step",
        ylabel="loss",
    )
    left.legend()
    for a, b in result.pairs():
        rel = [max(v, 1e-12) for v in result.per_step_rel(a, b)]
        right.semilogy(steps, rel, marker="o", ms=3, label=f"{a} vs {b}")
    for fw in result.losses64:
        drift = [max(v, 1e-12) for v in result.drift(fw)]
        right.semilogy(steps, drift, ls="--", lw=1, label=f"{fw} float32 vs float64")
    right.set(
        title="relative loss difference per step",
        xlabel="step",
        ylabel="|loss_a - loss_b| / |loss_b|",
    )
    right.legend(fontsize=8)
    fig.tight_layout()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    finally:
        plt.close(fig)
