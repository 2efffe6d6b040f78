"""Data sets and the seeded batch stream every framework shares.

Images are float32 NCHW. Sources: the bundled scikit-learn digits (1797 8×8 images, 10
classes, offline), IDX files as MNIST/Fashion-MNIST ship them (raw or .gz) and NPZ files with
arrays ``x`` (N, H, W) or (N, C, H, W) and optional ``y`` (N,). Pixel range is chosen with
``scale``: ``"unit"`` → [0, 1] (autoencoders), ``"symmetric"`` → [-1, 1] (GAN, tanh output).
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

SCALES = ("unit", "symmetric")


class DataError(ValueError):
    """A malformed data file; the message names the file and the fault."""


@dataclass(frozen=True)
class Dataset:
    """Images ``x`` (N, C, H, W) float32 and integer labels ``y`` (N,) or None."""

    x: np.ndarray
    y: np.ndarray | None
    name: str = "data"
    classes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.x.ndim != 4:
            raise DataError(f"{self.name}: images must be (N, C, H, W), got {self.x.shape}")
        if self.y is not None and len(self.y) != len(self.x):
            raise DataError(f"{self.name}: {len(self.x)} images but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])  # type: ignore[return-value]

    def subset(self, index: np.ndarray, name: str | None = None) -> Dataset:
        return replace(
            self,
            x=self.x[index],
            y=None if self.y is None else self.y[index],
            name=name or self.name,
        )

    def filter_classes(self, classes: list[int] | tuple[int, ...]) -> Dataset:
        """Keep only ``classes`` and relabel them 0..len(classes)-1 in the order given."""
        if self.y is None:
            raise DataError(f"{self.name}: has no labels to filter on")
        classes = tuple(int(c) for c in classes)
        present = set(np.unique(self.y).tolist())
        missing = [c for c in classes if c not in present]
        if missing:
            raise DataError(
                f"{self.name}: classes {missing} not present; present: {sorted(present)}"
            )
        keep = np.isin(self.y, classes)
        lookup = {c: i for i, c in enumerate(classes)}
        y = np.array([lookup[int(v)] for v in self.y[keep]], dtype=np.int64)
        return Dataset(self.x[keep], y, f"{self.name}[{','.join(map(str, classes))}]", classes)

    def per_class(self, k: int, seed: int = 0) -> Dataset:
        """k labelled examples per class, drawn with ``seed`` (ordered by class, then index)."""
        if self.y is None:
            raise DataError(f"{self.name}: has no labels to subsample")
        if k < 1:
            raise DataError(f"labels per class must be >= 1, got {k}")
        rng = np.random.Generator(np.random.PCG64(seed))
        picks = []
        for c in np.unique(self.y):
            idx = np.flatnonzero(self.y == c)
            if len(idx) < k:
                raise DataError(f"{self.name}: class {c} has {len(idx)} examples, asked for {k}")
            picks.append(np.sort(rng.choice(idx, size=k, replace=False)))
        return self.subset(np.concatenate(picks), f"{self.name}[k={k}]")

    def split(self, test_fraction: float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset]:
        """A seeded shuffle split into (train, test)."""
        if not 0.0 < test_fraction < 1.0:
            raise DataError(f"test_fraction must be in (0, 1), got {test_fraction}")
        order = np.random.Generator(np.random.PCG64(seed)).permutation(len(self))
        n_test = max(1, round(len(self) * test_fraction))
        return (
            self.subset(np.sort(order[n_test:]), f"{self.name}/train"),
            self.subset(np.sort(order[:n_test]), f"{self.name}/test"),
        )


def _rescale(x01: np.ndarray, scale: str) -> np.ndarray:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; allowed: {', '.join(SCALES)}")
    x = x01.astype(np.float32)
    return x if scale == "unit" else (x * 2.0 - 1.0).astype(np.float32)


def load_digits(scale: str = "unit") -> Dataset:
    """scikit-learn's bundled digits: 1797 images (1, 8, 8), pixel 0..16 scaled to ``scale``."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = (d.images.astype(np.float64) / 16.0).reshape(-1, 1, 8, 8)
    return Dataset(_rescale(x, scale), d.target.astype(np.int64), "digits", tuple(range(10)))


_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip): magic 0x0000 TT NN, NN big-endian uint32 dims, data."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read IDX file ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(
            f"{path}: bad IDX magic number {raw[:4].hex() or '(empty)'}; expected "
            f"00 00 <type in {sorted(_IDX_TYPES)}> <ndim>"
        )
    dtype, ndim = np.dtype(_IDX_TYPES[raw[2]]), raw[3]
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: IDX header truncated (ndim {ndim}, {len(raw)} bytes)")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    want = int(np.prod(dims)) * dtype.itemsize
    payload = raw[4 + 4 * ndim :]
    if len(payload) != want:
        raise DataError(
            f"{path}: IDX payload is {len(payload)} bytes, header dims {dims} of "
            f"{dtype} need {want} (truncated or padded file)"
        )
    return np.frombuffer(payload, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def load_idx(
    images: str | os.PathLike, labels: str | os.PathLike | None = None, scale: str = "unit"
) -> Dataset:
    """MNIST-style images (N, H, W) uint8 [+ labels (N,)] -> Dataset (N, 1, H, W)."""
    x = read_idx(images)
    if x.ndim != 3:
        raise DataError(f"{images}: IDX images must be 3-D (N, H, W), got dims {x.shape}")
    y = None
    if labels is not None:
        y = read_idx(labels)
        if y.ndim != 1:
            raise DataError(f"{labels}: IDX labels must be 1-D (N,), got dims {y.shape}")
        if len(y) != len(x):
            raise DataError(f"{images} has {len(x)} images but {labels} has {len(y)} labels")
        y = y.astype(np.int64)
    x01 = x.astype(np.float64) / (255.0 if x.dtype == np.uint8 else max(float(x.max()), 1.0))
    classes = tuple(sorted(set(y.tolist()))) if y is not None else ()
    return Dataset(_rescale(x01[:, None], scale), y, Path(images).name, classes)


def load_npz(path: str | os.PathLike, scale: str = "unit") -> Dataset:
    """NPZ with ``x`` (N, H, W) or (N, C, H, W) (uint8 0..255 or float 0..1) and optional ``y``."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:  # zipfile/ValueError/OSError on a damaged archive
        raise DataError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from None
    if "x" not in arrays:
        raise DataError(f"{path}: no array 'x' (found: {sorted(arrays) or 'none'})")
    x, y = arrays["x"], arrays.get("y")
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise DataError(f"{path}: 'x' must be (N, H, W) or (N, C, H, W), got {x.shape}")
    if y is not None and (y.ndim != 1 or len(y) != len(x)):
        raise DataError(f"{path}: 'y' must be (N,) with N = {len(x)}, got {y.shape}")
    x01 = x.astype(np.float64) / (255.0 if x.dtype == np.uint8 else 1.0)
    labels = None if y is None else y.astype(np.int64)
    classes = tuple(sorted(set(labels.tolist()))) if labels is not None else ()
    return Dataset(_rescale(x01, scale), labels, path.name, classes)


def load(source: str = "digits", scale: str = "unit") -> Dataset:
    """``"digits"``, a ``.npz`` file, or an IDX images file (labels found beside it when named
    like MNIST's: ``*-images-idx3-ubyte[.gz]`` → ``*-labels-idx1-ubyte[.gz]``)."""
    if source == "digits":
        return load_digits(scale)
    path = Path(source)
    if not path.exists():
        raise DataError(f"no data at {source!r}; use 'digits', a .npz file or an IDX file")
    if path.suffix == ".npz":
        return load_npz(path, scale)
    labels = Path(str(path).replace("images-idx3", "labels-idx1"))
    return load_idx(path, labels if labels.exists() and labels != path else None, scale)


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
    import zlib

    return np.random.Generator(np.random.PCG64([seed, zlib.crc32(name.encode())]))
