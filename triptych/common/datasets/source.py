"""``load``: a data set by name (digits, digits28, mnist) or by path (NPZ, IDX file or an
MNIST-style directory); ``load_train_test``: the canonical (train, test) split of a source."""

from __future__ import annotations

import os
from pathlib import Path

from triptych.common.datasets.dataset import Dataset
from triptych.common.datasets.digits import load_digits
from triptych.common.datasets.errors import DataError
from triptych.common.datasets.idx import load_idx
from triptych.common.datasets.idx_dir import has_idx_files, load_idx_dir, load_idx_split
from triptych.common.datasets.mnist5k import load_mnist5k, mnist_split
from triptych.common.datasets.npz import load_npz

NAMED = ("digits", "digits28", "mnist")
"""Built-in data sets: UCI digits 8×8, the same resized to 28×28, MNIST-5k (28×28)."""


def _labels_beside(images: Path) -> Path | None:
    """``*-images-idx3-ubyte[.gz]`` / ``*-images.idx3-ubyte[.gz]`` -> the labels file beside
    it with the same naming (raw or .gz), or None."""
    name = images.name
    for a, b in (("images-idx3", "labels-idx1"), ("images.idx3", "labels.idx1")):
        if a in name:
            stem = name.replace(a, b).removesuffix(".gz")
            for candidate in (stem, stem + ".gz"):
                path = images.with_name(candidate)
                if path.is_file():
                    return path
    return None


def load(source: str | os.PathLike = "digits", scale: str = "unit") -> Dataset:
    """A data set in ``scale`` ("unit" [0, 1] default, "symmetric" [-1, 1]).

    ``source``: "digits" (UCI 8×8), "digits28" (the same resized to 28×28), "mnist"
    (all 5,000 MNIST-5k images), a ``.npz`` file, an IDX images file (labels found beside it
    when named like MNIST's), or a directory of MNIST/Fashion-MNIST files (its train part).
    """
    source = os.fspath(source)
    if source == "digits":
        return load_digits(scale)
    if source == "digits28":
        return load_digits(scale, image_size=28)
    if source == "mnist":
        return load_mnist5k(scale)
    path = Path(source)
    if path.is_dir():
        return load_idx_dir(path, scale)
    if not path.exists():
        raise DataError(
            f"no data at {source!r}; use {', '.join(NAMED)}, a .npz file, an IDX file or a "
            "directory of MNIST-style IDX files"
        )
    if path.suffix == ".npz":
        return load_npz(path, scale)
    return load_idx(path, _labels_beside(path), scale)


def load_train_test(
    source: str | os.PathLike = "digits",
    scale: str = "unit",
    test_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[Dataset, Dataset]:
    """The canonical (train, test) split of ``source``.

    "mnist": the fixed stratified split (4,000 / 1,000 with the default 0.2; ``seed`` is not
    used, see ``mnist_split``); a directory with t10k-* files: the shipped train / t10k split
    (``test_fraction`` and ``seed`` not used; without t10k-* files the train part is split);
    anything else: ``load(source, scale).split(test_fraction, seed)``.
    """
    if os.fspath(source) == "mnist":
        return mnist_split(scale, test_fraction)
    path = Path(source)
    if path.is_dir() and has_idx_files(path, "t10k"):
        return load_idx_split(path, scale)
    return load(source, scale).split(test_fraction, seed)
