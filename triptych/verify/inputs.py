"""The one rule for the seeded probe inputs every parity check feeds: U[0, 1) for images
(rank-3 samples, like pixels), N(0, 1) for flat inputs (codes, latent vectors)."""

from __future__ import annotations

import numpy as np

from triptych.common.data import noise_stream


def probe_batch(shape: tuple[int, ...], batch: int, seed: int, tag: str) -> np.ndarray:
    """A float32 batch of ``batch`` samples of ``shape`` from the stream ``(seed, tag)``."""
    rng = noise_stream(seed, f"parity/{tag}/{batch}")
    full = (batch, *shape)
    x = rng.random(full) if len(shape) == 3 else rng.standard_normal(full)
    return x.astype(np.float32)
