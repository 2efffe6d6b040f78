"""scikit-learn's bundled UCI digits: 1797 8×8 images, 10 classes, offline."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from triptych.common.datasets.dataset import Dataset, rescale
from triptych.common.datasets.resize import resize_bilinear

NATIVE_SIZE = 8


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 1, 8, 8) float64 in [0, 1], labels int64), read once per process."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = (d.images.astype(np.float64) / 16.0).reshape(-1, 1, NATIVE_SIZE, NATIVE_SIZE)
    y = d.target.astype(np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def load_digits(scale: str = "unit", image_size: int = NATIVE_SIZE) -> Dataset:
    """The 1797 UCI digits, pixel 0..16 scaled to ``scale`` ("unit" [0, 1] by default).

    ``image_size`` (pixels, default 8 = as bundled): other sizes are bilinear resizes of the
    whole 8×8 image (``resize.resize_bilinear``, half-pixel centres), e.g. 28 for a
    28×28 "same task, other domain" counterpart of MNIST (named ``digits28``).
    """
    if image_size < 1:
        raise ValueError(f"image_size must be >= 1 pixel, got {image_size}")
    x01, y = _digits_arrays()
    name = "digits"
    if image_size != NATIVE_SIZE:
        x01 = np.clip(resize_bilinear(x01, (image_size, image_size)), 0.0, 1.0)
        name = f"digits{image_size}"
    return Dataset(rescale(x01, scale), y.copy(), name, tuple(range(10)))
