"""What may be an image or a label array, and the conversion of pixels to [0, 1].

Images: uint8 with 0..255, or float (16/32/64-bit) with finite values in [0, 1]; every other
dtype (int16, uint16, bool, complex, strings, objects, records) is refused, as are floats
outside [0, 1] (no guessing between 0..255 and -1..1 floats). Layout: (N, H, W), taken as one
channel, or (N, C, H, W) with C = 1 or 3; N, H and W at least 1.

Labels: 1-D, N of them, integer (or bool, or float with integral values) in [0, 2**31).
"""

from __future__ import annotations

import numpy as np

from triptych.common.datasets.errors import DataError

ALLOWED_IMAGES = "uint8 0-255 or float in [0, 1]"
CHANNELS = (1, 3)
MAX_LABEL = 2**31


def as_nchw(x: np.ndarray, where: str) -> np.ndarray:
    """(N, H, W) -> (N, 1, H, W); (N, C, H, W) with C in (1, 3) unchanged; else DataError."""
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim != 4:
        raise DataError(f"{where}: images must be (N, H, W) or (N, C, H, W), got shape {x.shape}")
    if x.shape[1] not in CHANNELS:
        hint = ""
        if x.shape[-1] in CHANNELS:
            hint = " (looks channels-last: transpose (N, H, W, C) to (N, C, H, W))"
        raise DataError(f"{where}: images have {x.shape[1]} channels, allowed 1 or 3{hint}")
    if 0 in x.shape:
        raise DataError(f"{where}: no images (shape {x.shape})")
    return x


def to_unit(x: np.ndarray, where: str) -> np.ndarray:
    """Pixels as float32 in [0, 1]: uint8 divided by 255, float checked and cast.

    Raises DataError naming ``where``, the dtype and what is allowed, for any other dtype,
    for NaN/inf, and for floats outside [0, 1].
    """
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    if x.dtype.kind != "f" or x.dtype.fields is not None:
        raise DataError(f"{where}: dtype {x.dtype} cannot be an image; allowed: {ALLOWED_IMAGES}")
    finite = np.isfinite(x)
    if not finite.all():
        raise DataError(f"{where}: {int(np.size(x) - finite.sum())} pixel values are NaN or inf")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        hint = " (0..255 floats: divide by 255)" if lo >= 0.0 and hi <= 255.0 else ""
        raise DataError(
            f"{where}: {x.dtype} pixels span [{lo:g}, {hi:g}]; allowed: {ALLOWED_IMAGES}{hint}"
        )
    return x.astype(np.float32)


def to_labels(y: np.ndarray, n: int, where: str) -> np.ndarray:
    """Labels as int64 (N,), checked: 1-D, ``n`` long, integral values in [0, 2**31)."""
    if y.ndim != 1:
        raise DataError(f"{where}: labels must be 1-D (N,), got shape {y.shape}")
    if len(y) != n:
        raise DataError(f"{where}: {n} images but {len(y)} labels")
    if y.dtype.fields is not None or y.dtype.kind not in "biuf":
        raise DataError(f"{where}: dtype {y.dtype} cannot be labels; allowed: integers")
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and np.array_equal(y, np.round(y))):
        raise DataError(f"{where}: float labels must be finite whole numbers")
    if n and (float(y.min()) < 0 or float(y.max()) >= MAX_LABEL):
        raise DataError(f"{where}: labels span [{y.min()}, {y.max()}]; allowed: 0 <= label < 2**31")
    return y.astype(np.int64)
