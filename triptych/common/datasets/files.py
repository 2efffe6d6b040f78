"""A data file's bytes, gunzipped when it is gzip-compressed (by content, not by name)."""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

from triptych.common.datasets.errors import DataError, describe

GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: str | os.PathLike) -> bytes:
    """All bytes of ``path``, decompressed when the file starts with the gzip magic (1f 8b).

    A name ending in ``.gz`` whose content is not gzip, an unreadable file, and a corrupt or
    truncated gzip stream (zlib.error, EOFError, BadGzipFile) raise DataError naming the file.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read file ({describe(e)})") from None
    if raw[:2] != GZIP_MAGIC:
        if path.suffix == ".gz":
            raise DataError(f"{path}: named .gz but is not gzip-compressed (no 1f 8b magic)")
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
        raise DataError(f"{path}: corrupt or truncated gzip stream ({describe(e)})") from None
