"""GAN pictures: a sample grid from fixed noise and the discriminator-accuracy curves."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from triptych.common import data as D
from triptych.common.weights import atomic_write
from triptych.engine.history import History
from triptych.model import Model, create
from triptych.training.fd import CLASSIFIER_FILE, fd_digits, load_or_train_classifier
from triptych.training.grids import save_grid

FIXED_Z_SEED = 2024


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Mean over each full window of ``window`` consecutive values ("valid" positions)."""
    return np.convolve(values, np.ones(window) / window, mode="valid")


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
            smooth = moving_average(values, window)
            ax.plot(np.arange(window, len(values) + 1), smooth, label=label)
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.set(xlabel="step", ylabel="accuracy", ylim=(0, 1.02), title=title)
    ax.legend()
    fig.tight_layout()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)


def loss_curves_plot(
    histories: dict[str, History], path: str | os.PathLike, title: str = ""
) -> Path:
    """D and G loss per step of several frameworks side by side (moving average of 25)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True)
    for ax, key, label in (
        (axes[0], "d_loss", "discriminator loss"),
        (axes[1], "g_loss", "generator loss"),
    ):
        for fw, history in histories.items():
            values = np.array(history.column(key))
            if len(values):
                window = min(25, len(values))
                smooth = moving_average(values, window)
                ax.plot(np.arange(window, len(values) + 1), smooth, label=fw)
        ax.set(xlabel="step", ylabel=label, title=f"{title} {label}".strip())
        ax.legend()
    fig.tight_layout()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)


def accuracy_trend(history: History, window: int = 100) -> dict[str, float]:
    """D accuracy on real/fake: the peak of its ``window``-step moving average and the mean
    of the last ``window`` steps; ``toward_50_percent`` when both ended at least 5 points
    closer to 0.5 than their peaks (the lecture: D's accuracy falls toward chance)."""
    out: dict[str, float] = {}
    closer = []
    for key in ("acc_real", "acc_fake"):
        values = np.array(history.column(key))
        w = min(window, max(1, len(values) // 2))
        smooth = moving_average(values, w)
        out[f"{key}_peak"] = float(smooth.max())
        out[f"{key}_last"] = float(values[-w:].mean())
        closer.append(abs(out[f"{key}_last"] - 0.5) <= abs(out[f"{key}_peak"] - 0.5) - 0.05)
    out["toward_50_percent"] = float(all(closer))
    return out


def gan_summary(
    model: Model,
    history: History,
    out: Path,
    seed: int = 0,
    real: D.Dataset | None = None,
    classifier_steps: int | None = None,
    classifier_cache: Path | None = None,
) -> dict[str, Any]:
    """samples.png, d_accuracy.png, FD of trained vs untrained generator against ``real``
    (labelled images in [0, 1]; default the bundled digits), D trend. The FD classifier is
    cached at ``classifier_cache`` (default: in ``out``)."""
    sample_grid(model, out / "samples.png")
    accuracy_plot(history, out / "d_accuracy.png", f"{model.spec.name} · {model.framework}")
    cache = classifier_cache or out / CLASSIFIER_FILE
    classifier = load_or_train_classifier(cache, real=real, steps=classifier_steps)
    untrained = create(model.spec, framework=model.framework, seed=seed)
    trained_fd = fd_digits(model, classifier, real=real)
    untrained_fd = fd_digits(untrained, classifier, real=real)
    return {
        "fd_digits": trained_fd.fd,
        "fd_digits_untrained": untrained_fd.fd,
        "fd_improvement": untrained_fd.fd / max(trained_fd.fd, 1e-12),
        "mean_max_confidence": trained_fd.confidence,
        "mean_max_confidence_untrained": untrained_fd.confidence,
        **accuracy_trend(history),
    }
