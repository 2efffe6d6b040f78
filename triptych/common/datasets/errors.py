"""The one error every malformed data source raises."""

from __future__ import annotations


class DataError(ValueError):
    """A malformed data file or source; the one-line message names the file and the fault."""


def describe(error: BaseException, limit: int = 160) -> str:
    """``error`` as one short line: ``Type: message`` with whitespace collapsed, at most
    ``limit`` characters (default 160), for quoting a library's error inside a DataError."""
    text = " ".join(str(error).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
