"""Image grids as PNG: one labelled row per image set (input / corrupted / output ...)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from triptych.common.weights import atomic_write


def save_grid(
    rows: dict[str, np.ndarray],
    path: str | os.PathLike,
    title: str = "",
    value_range: tuple[float, float] = (0.0, 1.0),
    columns: int = 10,
) -> Path:
    """Each row: label -> images (N, C, H, W) (the first ``columns`` shown). Greyscale for
    one channel, RGB for three; values clipped to ``value_range`` (default [0, 1])."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(columns, min(len(v) for v in rows.values()))
    fig, axes = plt.subplots(len(rows), n, figsize=(n * 0.9, len(rows) * 1.0 + 0.4), squeeze=False)
    lo, hi = value_range
    for r, (label, images) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r][c]
            img = (np.clip(images[c], lo, hi) - lo) / (hi - lo)
            if img.shape[0] == 1:
                ax.imshow(img[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            else:
                ax.imshow(img.transpose(1, 2, 0), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)
