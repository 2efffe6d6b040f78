"""IDX files (the MNIST format), raw or gzip-compressed.

Layout: magic ``00 00 TT NN`` (TT the element type, NN the number of dims), NN big-endian
uint32 dims, then the elements, big-endian, C order. Nothing may follow the elements.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np

from triptych.common.datasets.dataset import Dataset, rescale
from triptych.common.datasets.errors import DataError
from triptych.common.datasets.files import read_bytes
from triptych.common.datasets.pixels import as_nchw, to_labels, to_unit

IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(raw: bytes, where: str) -> np.ndarray:
    """The array in IDX bytes ``raw`` (native byte order); DataError naming ``where`` if the
    magic, the header or the payload size is wrong. Sizes are checked in Python integers
    before anything is allocated, so absurd dims are refused, never overflowed."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise DataError(
            f"{where}: bad IDX magic number {raw[:4].hex() or '(empty)'}; expected "
            f"00 00 <type in {sorted(IDX_TYPES)}> <ndim>"
        )
    dtype, ndim = np.dtype(IDX_TYPES[raw[2]]), raw[3]
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise DataError(f"{where}: IDX header truncated (ndim {ndim}, {len(raw)} bytes)")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    want = math.prod(dims) * dtype.itemsize
    payload = memoryview(raw)[4 + 4 * ndim :]
    if len(payload) != want:
        raise DataError(
            f"{where}: IDX payload is {len(payload)} bytes, header dims {dims} of "
            f"{dtype} need {want} (truncated or padded file)"
        )
    return np.frombuffer(payload, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip, recognised by content): the array it holds."""
    return parse_idx(read_bytes(path), str(path))


def load_idx(
    images: str | os.PathLike, labels: str | os.PathLike | None = None, scale: str = "unit"
) -> Dataset:
    """IDX images (N, H, W) [+ IDX labels (N,)] -> Dataset (N, 1, H, W) in ``scale``.

    Images must be uint8 0..255 (MNIST) or float in [0, 1]; labels any integer IDX type.
    Any H x W is kept as it is (``Dataset.image_shape``).
    """
    x = read_idx(images)
    if x.ndim != 3:
        raise DataError(f"{images}: IDX images must be 3-D (N, H, W), got dims {x.shape}")
    x = as_nchw(x, str(images))
    y = None
    if labels is not None:
        y = read_idx(labels)
        if y.ndim != 1:
            raise DataError(f"{labels}: IDX labels must be 1-D (N,), got dims {y.shape}")
        if len(y) != len(x):
            raise DataError(f"{images} has {len(x)} images but {labels} has {len(y)} labels")
        y = to_labels(y, len(x), str(labels))
    classes = tuple(np.unique(y).tolist()) if y is not None else ()
    return Dataset(rescale(to_unit(x, str(images)), scale), y, Path(images).name, classes)
