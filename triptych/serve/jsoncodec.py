"""JSON in and out of the server: orjson when installed (the ``serve`` extra pins it), the
standard library otherwise.

Requests: orjson parses first; a body orjson refuses is parsed again by the standard library,
which also reads the ``NaN``/``Infinity``/``-Infinity`` literals that tritonclient writes for
non-finite floats (python-rapidjson's default). Every failure, including nesting deeper than
the parser allows (orjson: 1024 levels) and integers of more than 4300 digits, is a
`ServeError` 400, never a 500.

Responses: orjson with numpy arrays serialised in C. Non-finite floats (NaN, +-inf) are
written as the bare literals ``NaN``, ``Infinity`` and ``-Infinity`` (orjson would silently
write ``null``): that is what python-rapidjson (tritonclient's parser) and Python's ``json``
accept by default. Strict RFC 8259 parsers (JavaScript ``JSON.parse``, Go) refuse them; such
clients should ask for ``binary_data_output``, which carries the raw IEEE bytes.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from triptych.serve.errors import ServeError

try:
    import orjson
except ImportError:  # the serve extra pins orjson; the stdlib keeps the server working
    orjson = None  # type: ignore[assignment]


def loads(text: bytes | bytearray | memoryview) -> Any:
    """Parse a request's JSON header; 400 on anything that is not JSON."""
    if orjson is not None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # maybe NaN/Infinity literals: the stdlib reads those
    try:
        return json.loads(bytes(text))
    except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError, digits
        raise ServeError(400, f"malformed JSON: {str(e)[:200]}") from None


def _finite(array: np.ndarray) -> bool:
    return array.dtype.kind != "f" or bool(np.isfinite(array).all())


def dumps(doc: dict[str, Any] | list[Any]) -> bytes:
    """Compact JSON of ``doc``, whose output ``data`` may be 1-D numpy arrays."""
    outputs = doc.get("outputs", ()) if isinstance(doc, dict) else ()
    arrays = [o["data"] for o in outputs if isinstance(o.get("data"), np.ndarray)]
    if orjson is not None and all(_finite(a) for a in arrays):
        return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    if not isinstance(doc, dict):
        return json.dumps(doc, separators=(",", ":"), allow_nan=True).encode()
    plain = dict(doc)
    if "outputs" in doc:
        plain["outputs"] = [
            {**o, "data": o["data"].tolist()} if isinstance(o.get("data"), np.ndarray) else o
            for o in doc["outputs"]
        ]
    return json.dumps(plain, separators=(",", ":"), allow_nan=True).encode()
