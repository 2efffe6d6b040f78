"""KServe v2 inference requests and responses: JSON tensors and the binary tensor extension.

A request body is a JSON header, optionally followed by raw tensor bytes; when it is, the
``Inference-Header-Content-Length`` header gives the JSON's length. Every fault raises
`ServeError(400, ...)` naming what was wrong and what is allowed, before onnxruntime runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from triptych.serve.datatypes import FROM_NUMPY, TO_NUMPY
from triptych.serve.errors import ServeError
from triptych.serve.repository import ServedModel

MAX_ELEMENTS = 1 << 26  # per tensor: 64 Mi elements (256 MiB of FP32)


@dataclass
class InferRequest:
    id: str | None
    inputs: dict[str, np.ndarray]
    outputs: list[tuple[str, bool]]  # (name, binary)
    batch: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _bad(msg: str) -> ServeError:
    return ServeError(400, msg)


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """(JSON part, binary part) of a request body."""
    if header_length is None:
        return body, b""
    text = header_length.strip()
    if not text.isdigit():
        raise _bad(
            f"Inference-Header-Content-Length must be a non-negative integer, got {header_length!r}"
        )
    n = int(text)
    if n > len(body):
        raise _bad(
            f"Inference-Header-Content-Length {n} is longer than the body ({len(body)} bytes)"
        )
    return body[:n], body[n:]


def _shape(spec: dict[str, Any], name: str) -> list[int]:
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in shape
    ):
        raise _bad(f"input {name!r}: shape must be a list of integers, got {shape!r}")
    if any(d < 0 for d in shape):
        raise _bad(f"input {name!r}: negative dimension in shape {shape}")
    if int(np.prod(shape, dtype=np.float64)) > MAX_ELEMENTS:
        raise _bad(f"input {name!r}: shape {shape} has more than {MAX_ELEMENTS} elements")
    return shape


def _check_against_model(
    name: str, datatype: str, shape: list[int], meta: Any, max_batch: int | None
) -> None:
    if datatype != meta.datatype:
        raise _bad(f"input {name!r}: datatype {datatype} but the model takes {meta.datatype}")
    if len(shape) != len(meta.shape):
        raise _bad(
            f"input {name!r}: rank {len(shape)} (shape {shape}) but the model takes "
            f"rank {len(meta.shape)} {meta.shape}"
        )
    for i, (got, want) in enumerate(zip(shape, meta.shape, strict=True)):
        if want != -1 and got != want:
            raise _bad(
                f"input {name!r}: dimension {i} is {got}, the model needs {want} "
                f"(shape {meta.shape}, -1 = any)"
            )
    if max_batch is not None and shape and shape[0] > max_batch:
        raise _bad(f"input {name!r}: batch {shape[0]} is over the limit {max_batch}")


def _json_data(spec: dict[str, Any], name: str, dtype: np.dtype, shape: list[int]) -> np.ndarray:
    if "data" not in spec:
        raise _bad(f"input {name!r}: no 'data' and no parameters.binary_data_size")
    data = spec["data"]
    try:
        flat = np.asarray(data, dtype=object).ravel() if isinstance(data, list) else None
    except ValueError:  # ragged nesting
        flat = None
    if flat is None:
        raise _bad(f"input {name!r}: 'data' must be a (flat or nested) list of numbers")
    ok = bool if dtype == np.dtype(bool) else (int, float)
    if not all(
        isinstance(v, ok) and (dtype == np.dtype(bool) or not isinstance(v, bool)) for v in flat
    ):
        raise _bad(
            f"input {name!r}: 'data' holds non-numeric values for datatype {FROM_NUMPY[dtype]}"
        )
    expected = int(np.prod(shape))
    if flat.size != expected:
        raise _bad(
            f"input {name!r}: {flat.size} elements of data for shape {shape} ({expected} expected)"
        )
    return np.array(flat.tolist(), dtype=dtype).reshape(shape)


def parse_request(
    header: bytes, binary: bytes, model: ServedModel, max_batch: int | None
) -> InferRequest:
    """Validate a request against ``model`` and return its numpy inputs."""
    try:
        doc = json.loads(header)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _bad(f"malformed JSON: {e}") from None
    if not isinstance(doc, dict):
        raise _bad(f"the request must be a JSON object, got {type(doc).__name__}")
    specs = doc.get("inputs")
    if not isinstance(specs, list) or not specs:
        raise _bad("the request needs a non-empty 'inputs' list")
    wanted = {m.name: m for m in model.inputs}
    inputs: dict[str, np.ndarray] = {}
    offset = 0
    for spec in specs:
        if not isinstance(spec, dict):
            raise _bad(f"each input must be an object, got {type(spec).__name__}")
        missing = [k for k in ("name", "shape", "datatype") if k not in spec]
        if missing:
            raise _bad(f"input {spec.get('name', '?')!r}: missing {', '.join(missing)}")
        name, datatype = spec["name"], spec["datatype"]
        if not isinstance(name, str) or name not in wanted:
            raise _bad(f"unknown input {name!r}; the model takes {', '.join(wanted)}")
        if name in inputs:
            raise _bad(f"duplicate input {name!r}")
        if datatype not in TO_NUMPY:
            raise _bad(
                f"input {name!r}: unknown datatype {datatype!r}; allowed: {', '.join(TO_NUMPY)}"
            )
        shape = _shape(spec, name)
        _check_against_model(name, datatype, shape, wanted[name], max_batch)
        dtype = TO_NUMPY[datatype]
        size = (spec.get("parameters") or {}).get("binary_data_size")
        if size is None:
            inputs[name] = _json_data(spec, name, dtype, shape)
            continue
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _bad(f"input {name!r}: binary_data_size must be a non-negative integer")
        need = int(np.prod(shape)) * dtype.itemsize
        if size != need:
            raise _bad(
                f"input {name!r}: binary_data_size {size} but shape {shape} of "
                f"{datatype} needs {need} bytes"
            )
        if offset + size > len(binary):
            raise _bad(
                f"input {name!r}: binary_data_size {size} but only "
                f"{len(binary) - offset} bytes are left in the body"
            )
        inputs[name] = np.frombuffer(binary[offset : offset + size], dtype=dtype).reshape(shape)
        offset += size
    if offset != len(binary):
        raise _bad(f"{len(binary) - offset} bytes of binary data left over after the inputs")
    absent = [n for n in wanted if n not in inputs]
    if absent:
        raise _bad(f"missing input(s) {', '.join(absent)}")
    batches = {a.shape[0] for a in inputs.values() if a.ndim}
    if len(batches) > 1:
        raise _bad(f"inputs disagree on the batch size: {sorted(batches)}")
    params = doc.get("parameters") or {}
    binary_default = bool(params.get("binary_data_output", False))
    return InferRequest(
        doc.get("id"), inputs, _outputs(doc, model, binary_default), batches.pop() if batches else 0
    )


def _outputs(
    doc: dict[str, Any], model: ServedModel, binary_default: bool
) -> list[tuple[str, bool]]:
    names = [o.name for o in model.outputs]
    requested = doc.get("outputs")
    if requested is None:
        return [(n, binary_default) for n in names]
    if not isinstance(requested, list):
        raise _bad("'outputs' must be a list")
    out: list[tuple[str, bool]] = []
    for spec in requested:
        name = spec.get("name") if isinstance(spec, dict) else None
        if name not in names:
            raise _bad(f"unknown requested output {name!r}; the model gives {', '.join(names)}")
        if any(n == name for n, _ in out):
            raise _bad(f"duplicate requested output {name!r}")
        binary = (spec.get("parameters") or {}).get("binary_data", binary_default)
        out.append((name, bool(binary)))
    return out


def encode_response(
    model: ServedModel, request: InferRequest, results: dict[str, np.ndarray]
) -> tuple[bytes, int | None]:
    """(body, JSON header length when binary outputs follow it, else None)."""
    outputs, blobs = [], []
    for name, binary in request.outputs:
        array = np.ascontiguousarray(results[name])
        entry: dict[str, Any] = {
            "name": name,
            "datatype": FROM_NUMPY[array.dtype],
            "shape": list(array.shape),
        }
        if binary:
            blob = array.tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = array.ravel().tolist()
        outputs.append(entry)
    doc: dict[str, Any] = {
        "model_name": model.name,
        "model_version": model.version,
        "outputs": outputs,
    }
    if request.id is not None:
        doc["id"] = request.id
    header = json.dumps(doc, separators=(",", ":")).encode()
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)
