"""Data augmentation for supervised recipes, drawn from the common seeded stream so every
framework (and every data-parallel worker, which shards the augmented global batch) trains on
the same numbers. Images are NCHW."""

from __future__ import annotations

import numpy as np

from triptych.common.datasets.stream import noise_stream


def random_shift(x: np.ndarray, max_px: int, rng: np.random.Generator) -> np.ndarray:
    """Each image translated by its own (dy, dx), each uniform in [-max_px, max_px] pixels,
    the uncovered border filled with 0 (the background of [0, 1] digits)."""
    if max_px <= 0:
        return x
    n, _, h, w = x.shape
    offsets = rng.integers(-max_px, max_px + 1, size=(n, 2))
    padded = np.pad(x, ((0, 0), (0, 0), (max_px, max_px), (max_px, max_px)))
    out = np.empty_like(x)
    for i, (dy, dx) in enumerate(offsets):
        top, left = max_px - dy, max_px - dx
        out[i] = padded[i, :, top : top + h, left : left + w]
    return out


def augment(x: np.ndarray, shift: int, seed: int, step: int) -> np.ndarray:
    """Step ``step``'s augmented batch (``shift`` as `random_shift`'s ``max_px``; 0 returns
    ``x`` itself): the stream is named per step, so a resumed run draws what an
    uninterrupted one would."""
    if shift <= 0:
        return x
    return random_shift(x, shift, noise_stream(seed, f"augment/{step}"))
