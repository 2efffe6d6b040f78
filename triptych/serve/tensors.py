"""Tensor data of a request -> numpy, vectorised and bounded.

The element count is checked against the declared shape BEFORE any conversion (a flat list by
its length, a nested one by the lengths along its first path), so a huge ``data`` for a small
shape is refused in O(1). Conversion is one ``np.asarray`` call; the resulting dtype kind
decides validity (no per-element Python loops): integer datatypes take integers in range,
float datatypes take integers or floats, BOOL takes booleans. Binary tensors are a zero-copy
``np.frombuffer`` view of the request body.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from triptych.serve.datatypes import FROM_NUMPY
from triptych.serve.errors import ServeError

MAX_ELEMENTS = 1 << 26  # per tensor: 64 Mi elements (256 MiB of FP32)


def short(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (error messages echo client input)."""
    text = repr(value) if not isinstance(value, list | dict) else _short_container(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short_container(value: list | dict) -> str:
    kind = "list" if isinstance(value, list) else "object"
    if len(value) > 8:
        return f"<{kind} of {len(value)} items>"
    try:
        return repr(value)[:200]
    except RecursionError:
        return f"<deeply nested {kind}>"


def element_count(shape: list[int], name: str) -> int:
    """Product of ``shape``; 400 when over `MAX_ELEMENTS` (stops early: no huge ints)."""
    n = 1
    for d in shape:
        if d > MAX_ELEMENTS:
            n = MAX_ELEMENTS + 1
        else:
            n *= d
        if n > MAX_ELEMENTS:
            raise ServeError(
                400, f"input {name!r}: shape {short(shape)} has more than {MAX_ELEMENTS} elements"
            )
    return n


def _implied_shape(data: list, depth: int) -> list[int]:
    """Lengths along the first-element path, at most ``depth`` levels deep."""
    dims, node = [], data
    while isinstance(node, list) and len(dims) < depth:
        dims.append(len(node))
        if not node:
            break
        node = node[0]
    return dims


def from_json(data: Any, dtype: np.dtype, shape: list[int], name: str) -> np.ndarray:
    """``data`` (flat, or nested exactly as ``shape``) as an array of ``dtype`` and ``shape``."""
    if not isinstance(data, list):
        raise ServeError(400, f"input {name!r}: 'data' must be a (flat or nested) list of numbers")
    expected = element_count(shape, name)
    nested = bool(data) and isinstance(data[0], list)
    if nested:
        implied = _implied_shape(data, len(shape) + 1)
        if implied != list(shape):
            raise ServeError(
                400,
                f"input {name!r}: nested 'data' of shape {short(implied)} (along its first "
                f"items) for shape {short(shape)}; send it flat or nested exactly as the shape",
            )
    elif len(data) != expected:
        raise ServeError(
            400,
            f"input {name!r}: {len(data)} elements of data for shape {short(shape)} "
            f"({expected} expected)",
        )
    try:
        array = np.asarray(data)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise ServeError(
            400, f"input {name!r}: 'data' is ragged or holds non-numeric values"
        ) from None
    if array.size != expected:  # nested data ragged below the first path is caught above
        raise ServeError(
            400,
            f"input {name!r}: {array.size} elements of data for shape {short(shape)} "
            f"({expected} expected)",
        )
    return cast(array, dtype, name).reshape(shape)


def cast(array: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """``array`` as ``dtype`` when its kind fits (numbers for floats, in-range integers for
    integers, booleans for BOOL), else 400."""
    kind = array.dtype.kind
    if array.size == 0:
        return array.astype(dtype)
    if dtype.kind == "b":
        if kind != "b":
            raise ServeError(400, f"input {name!r}: BOOL data must be true/false")
        return array
    if kind not in "iuf" or (dtype.kind in "iu" and kind == "f"):
        want = "integers" if dtype.kind in "iu" else "numbers"
        raise ServeError(
            400,
            f"input {name!r}: 'data' holds non-numeric values for datatype {FROM_NUMPY[dtype]} "
            f"(it needs {want}; the data reads as {array.dtype.name})",
        )
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise ServeError(
                400,
                f"input {name!r}: integers out of range for {FROM_NUMPY[dtype]} "
                f"[{info.min}, {info.max}]",
            )
    with np.errstate(over="ignore"):
        return array.astype(dtype, copy=False)


def from_binary(buffer: memoryview, dtype: np.dtype, shape: list[int]) -> np.ndarray:
    """A zero-copy view of ``buffer`` (exactly ``prod(shape) * itemsize`` bytes)."""
    return np.frombuffer(buffer, dtype=dtype).reshape(shape)
