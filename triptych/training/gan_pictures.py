"""GAN pictures: a sample grid from fixed noise and the discriminator-accuracy curves."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from triptych.common import data as D
from triptych.common.weights import atomic_write
from triptych.report.grids import save_grid
from triptych.training.history import History

if TYPE_CHECKING:
    from triptych.model import Model

FIXED_Z_SEED = 2024


def fixed_noise(model: Model, n: int = 40) -> np.ndarray:
    """The same z for every framework and run (seed `FIXED_Z_SEED`)."""
    latent = model.spec.networks["generator"].input_shape
    rng = D.noise_stream(FIXED_Z_SEED, "fixed-z")
    return rng.standard_normal((n, *latent)).astype(np.float32)


def sample_grid(model: Model, path: str | os.PathLike, n: int = 40) -> Path:
    """Generator samples (eval mode) from the fixed noise, 4 rows of 10, range [-1, 1]."""
    images = model.predict(fixed_noise(model, n), network="generator")
    rows = {f"{i * 10}-{i * 10 + 9}": images[i * 10 : (i + 1) * 10] for i in range(n // 10)}
    return save_grid(rows, path, f"{model.spec.name} · {model.framework}", (-1.0, 1.0))


def accuracy_plot(history: History, path: str | os.PathLike, title: str = "") -> Path:
    """D accuracy on real and on generated samples per step (moving average of 25)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for key, label in (("acc_real", "D accuracy on real"), ("acc_fake", "D accuracy on fake")):
        values = np.array(history.column(key))
        if len(values):
            window = min(25, len(values))
            smooth = np.convolve(values, np.ones(window) / window, mode="valid")
            ax.plot(np.arange(window, len(values) + 1), smooth, label=label)
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.set(xlabel="step", ylabel="accuracy", ylim=(0, 1.02), title=title)
    ax.legend()
    fig.tight_layout()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)


def gan_pictures(model: Model, out: Path) -> dict[str, Any]:
    """samples.png and d_accuracy.png in ``out``; returns late-training D accuracies."""
    sample_grid(model, out / "samples.png")
    history = History.load(out)
    accuracy_plot(history, out / "d_accuracy.png", f"{model.spec.name} · {model.framework}")
    return {
        "d_acc_real_last100": history.last("acc_real", 100),
        "d_acc_fake_last100": history.last("acc_fake", 100),
    }
