"""PNG plots (matplotlib, Agg backend: no display needed). Written atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from triptych.common.weights import atomic_write

if TYPE_CHECKING:
    from triptych.export.training_parity import TrainingParity


def plot_training_parity(result: TrainingParity, path: str | os.PathLike) -> Path:
    """Left: per-step loss per framework. Right: per-step relative loss difference per pair
    (log scale) with the pass bound."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    steps = range(1, result.steps + 1)
    for fw, losses in result.losses.items():
        left.plot(steps, losses, marker="o", ms=3, label=fw)
    left.set(
        title=f"{result.model}: {result.loss} loss, SGD lr {result.lr}, batch {result.batch}",
        xlabel="step",
        ylabel="loss",
    )
    left.legend()
    for pair, p in result.pairs.items():
        rel = [max(v, 1e-12) for v in p["per_step_rel"]]
        right.semilogy(steps, rel, marker="o", ms=3, label=pair)
    right.axhline(result.rtol, color="red", ls="--", label=f"bound {result.rtol:g}")
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
