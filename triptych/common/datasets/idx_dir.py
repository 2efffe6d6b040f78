"""A directory of MNIST / Fashion-MNIST files as they ship.

Expected names (raw or ``.gz``; ``-idx3`` or the dotted ``.idx3`` variant):
``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte`` (required) and
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (the shipped test split).

``load_idx_dir`` returns the **train part only**, so the shipped t10k test set stays held out
(``load(DIR).split(...)`` then splits 60,000 MNIST train images into train/validation);
``load_idx_split`` returns the shipped (train, t10k) pair.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from triptych.common.datasets.dataset import Dataset
from triptych.common.datasets.errors import DataError
from triptych.common.datasets.idx import load_idx

PARTS = ("train", "t10k")
EXPECTED = (
    "MNIST-style IDX files train-images-idx3-ubyte and train-labels-idx1-ubyte "
    "(raw or .gz; t10k-* for the test split)"
)


def _candidates(part: str, kind: str) -> list[str]:
    ndim = "idx3" if kind == "images" else "idx1"
    stems = (f"{part}-{kind}-{ndim}-ubyte", f"{part}-{kind}.{ndim}-ubyte")
    return [stem + suffix for stem in stems for suffix in ("", ".gz")]


def find_idx_file(directory: str | os.PathLike, part: str, kind: str) -> Path | None:
    """The file for ``part`` ("train"/"t10k") and ``kind`` ("images"/"labels") in
    ``directory`` (first of: dashed, dashed .gz, dotted, dotted .gz), or None."""
    for name in _candidates(part, kind):
        path = Path(directory) / name
        if path.is_file():
            return path
    return None


def has_idx_files(directory: str | os.PathLike, part: str = "train") -> bool:
    """True when ``directory`` holds both the images and the labels of ``part``."""
    return all(find_idx_file(directory, part, kind) for kind in ("images", "labels"))


def _load_part(directory: Path, part: str, scale: str) -> Dataset:
    images = find_idx_file(directory, part, "images")
    labels = find_idx_file(directory, part, "labels")
    if images is None or labels is None:
        missing = " and ".join(
            f"{part}-{kind}-{'idx3' if kind == 'images' else 'idx1'}-ubyte[.gz]"
            for kind, found in (("images", images), ("labels", labels))
            if found is None
        )
        raise DataError(f"{directory}: no {missing}; expected {EXPECTED}")
    ds = load_idx(images, labels, scale)
    return Dataset(ds.x, ds.y, f"{directory.name}/{part}", ds.classes)


def _check_directory(directory: str | os.PathLike) -> Path:
    path = Path(directory)
    if not path.is_dir():
        raise DataError(f"{path}: not a directory; expected one holding {EXPECTED}")
    return path


def load_idx_dir(directory: str | os.PathLike, scale: str = "unit") -> Dataset:
    """The train part of an MNIST-style directory: (N, 1, H, W) float32 in ``scale``."""
    return _load_part(_check_directory(directory), "train", scale)


def load_idx_split(directory: str | os.PathLike, scale: str = "unit") -> tuple[Dataset, Dataset]:
    """The shipped (train, t10k) split of an MNIST-style directory; both must be present and
    have the same image shape. ``classes`` of both is the union of their labels."""
    path = _check_directory(directory)
    train, test = (_load_part(path, part, scale) for part in PARTS)
    if train.image_shape != test.image_shape:
        raise DataError(
            f"{path}: train images are {train.image_shape} but t10k images are {test.image_shape}"
        )
    classes = tuple(np.union1d(train.classes, test.classes).tolist())
    return (
        Dataset(train.x, train.y, train.name, classes),
        Dataset(test.x, test.y, test.name, classes),
    )
