"""The one rule for the seeded probe inputs every parity check feeds: U[0, 1) for images
(rank-3 samples, like pixels), N(0, 1) for flat inputs (codes, latent vectors)."""

from __future__ import annotations

import numpy as np

from triptych.common.data import noise_stream
from triptych.common.spec import Network, input_vocabulary


def probe_batch(
    shape: tuple[int, ...], batch: int, seed: int, tag: str, vocab: int | None = None
) -> np.ndarray:
    """A float32 batch of ``batch`` samples of ``shape`` from the stream ``(seed, tag)``;
    with ``vocab``, int64 token ids in [0, vocab) instead."""
    rng = noise_stream(seed, f"parity/{tag}/{batch}")
    full = (batch, *shape)
    if vocab is not None:
        return rng.integers(0, vocab, full, dtype=np.int64)
    x = rng.random(full) if len(shape) == 3 else rng.standard_normal(full)
    return x.astype(np.float32)


def probe_for(network: Network, batch: int, seed: int, tag: str) -> np.ndarray:
    """`probe_batch` for ``network``'s input: token ids below the smallest vocabulary of the
    embeddings reading them, else floats."""
    vocab = input_vocabulary(network)
    return probe_batch(network.input_shape, batch, seed, tag, vocab)
