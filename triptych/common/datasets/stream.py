"""The seeded batch order and named noise streams every framework shares."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import numpy as np

from triptych.common.datasets.dataset import Dataset


def batches(
    data: Dataset, batch_size: int, seed: int = 0, epochs: int | None = None, drop_last: bool = True
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Seeded shuffled batches (x, y), reshuffled every epoch; the same on every framework.

    Epoch e uses permutation PCG64([seed, e]). ``epochs=None`` repeats forever.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if drop_last and batch_size > len(data):
        raise ValueError(f"batch_size {batch_size} is larger than the data set ({len(data)})")
    epoch = 0
    while epochs is None or epoch < epochs:
        order = np.random.Generator(np.random.PCG64([seed, epoch])).permutation(len(data))
        stop = len(order) - (len(order) % batch_size if drop_last else 0)
        for i in range(0, stop, batch_size):
            idx = order[i : i + batch_size]
            yield data.x[idx], (None if data.y is None else data.y[idx])
        epoch += 1


def noise_stream(seed: int, name: str = "noise") -> np.random.Generator:
    """A named seeded stream (GAN z, corruption noise, masks) shared by every framework."""
    return np.random.Generator(np.random.PCG64([seed, zlib.crc32(name.encode())]))
