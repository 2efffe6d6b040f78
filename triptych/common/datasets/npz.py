"""NPZ files: ``x`` (N, H, W) or (N, C, H, W) images and optional ``y`` (N,) labels.

Each member's .npy header is read and checked (dtype, declared size against the bytes the
archive can hold) before any array is allocated; pickled/object, string, structured and
complex arrays are refused without being read.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path

import numpy as np

from triptych.common.datasets.dataset import Dataset, rescale
from triptych.common.datasets.errors import DataError, describe
from triptych.common.datasets.pixels import as_nchw, to_labels, to_unit

NUMERIC_KINDS = "biuf"
MAX_DEFLATE_RATIO = 1100
"""Deflate expands at most ~1032:1; a member declaring more data than this times the size
of the file on disk is refused before anything is allocated."""


def _read_header(fh: zipfile.ZipExtFile) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fh)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(fh)
    raise ValueError(f"unsupported .npy format version {version}")


def _read_member(zf: zipfile.ZipFile, key: str, limit: int, where: str) -> np.ndarray:
    member = f"{key}.npy"
    with zf.open(member) as fh:
        shape, fortran, dtype = _read_header(fh)
        if dtype.hasobject or dtype.fields is not None or dtype.kind not in NUMERIC_KINDS:
            raise DataError(
                f"{where}: array '{key}' has dtype {dtype}; allowed: numeric "
                "(images uint8 0-255 or float in [0, 1], labels integers)"
            )
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > limit:
            raise DataError(
                f"{where}: array '{key}' declares shape {shape} of {dtype} ({nbytes} bytes), "
                "more than the file can hold"
            )
        data = fh.read(nbytes + 1)  # one byte more: reaches the end, so the CRC is checked
    if len(data) < nbytes:
        raise DataError(
            f"{where}: array '{key}' has {len(data)} data bytes, its header "
            f"{shape} of {dtype} needs {nbytes} (truncated)"
        )
    if len(data) > nbytes:
        raise DataError(
            f"{where}: array '{key}' has data after the {nbytes} bytes its header "
            f"{shape} of {dtype} needs (padded)"
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def read_npz(path: str | os.PathLike, keys: tuple[str, ...] = ("x", "y")) -> dict[str, np.ndarray]:
    """The arrays named ``keys`` that the archive holds (missing ones are left out)."""
    path = Path(path)
    where = str(path)
    try:
        limit = path.stat().st_size * MAX_DEFLATE_RATIO
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            found = {k: _read_member(zf, k, limit, where) for k in keys if f"{k}.npy" in names}
            others = sorted(n.removesuffix(".npy") for n in names if n.endswith(".npy"))
    except DataError:
        raise
    except Exception as e:  # zipfile, zlib, lzma, npy-header and OS errors of a damaged file
        raise DataError(f"{where}: not a readable .npz file ({describe(e)})") from None
    if "x" in keys and "x" not in found:
        raise DataError(f"{where}: no array 'x' (found: {', '.join(others) or 'none'})")
    return found


def load_npz(path: str | os.PathLike, scale: str = "unit") -> Dataset:
    """NPZ with ``x`` (N, H, W) or (N, C, H, W), C = 1 or 3, uint8 0..255 or float in [0, 1],
    and optional ``y`` (N,) integer labels -> Dataset in ``scale`` with the images' own shape."""
    path = Path(path)
    arrays = read_npz(path)
    x = as_nchw(arrays["x"], f"{path}: 'x'")
    y = arrays.get("y")
    labels = None
    if y is not None:
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{path}: 'y' must be (N,) with N = {len(x)}, got {y.shape}")
        labels = to_labels(y, len(x), f"{path}: 'y'")
    classes = tuple(np.unique(labels).tolist()) if labels is not None else ()
    return Dataset(rescale(to_unit(x, f"{path}: 'x'"), scale), labels, path.name, classes)
