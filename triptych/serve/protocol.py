"""KServe v2 inference requests and responses: JSON tensors and the binary tensor extension.

A request body is a JSON header, optionally followed by raw tensor bytes; when it is, the
``Inference-Header-Content-Length`` header gives the JSON's length in bytes (ASCII digits).
Every fault raises `ServeError(400, ...)` naming what was wrong and what is allowed, before
onnxruntime runs. Types are checked strictly: ``parameters`` must be objects, booleans
(``binary_data``, ``binary_data_output``) must be JSON ``true``/``false``, sizes and shape
dimensions JSON integers. Non-finite floats in JSON responses: see `jsoncodec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from triptych.serve import jsoncodec
from triptych.serve.datatypes import FROM_NUMPY, TO_NUMPY
from triptych.serve.errors import ServeError
from triptych.serve.repository import ServedModel, TensorMeta
from triptych.serve.tensors import MAX_ELEMENTS, element_count, from_binary, from_json, short

MAX_HEADER_DIGITS = 19  # Inference-Header-Content-Length: up to 10**19 - 1 bytes


@dataclass
class InferRequest:
    """A validated request: numpy ``inputs``, the ``outputs`` wanted as (name, binary)."""

    id: str | None
    inputs: dict[str, np.ndarray]
    outputs: list[tuple[str, bool]]
    batch: int = 0


def _bad(msg: str) -> ServeError:
    return ServeError(400, msg)


def split_body(
    body: bytes | bytearray, header_length: str | None, max_json: int | None = None
) -> tuple[memoryview, memoryview]:
    """(JSON part, binary part) of a request body, as zero-copy views; 413 when the JSON part
    is over ``max_json`` bytes (None: no limit)."""
    view = memoryview(body)
    if header_length is None:
        _check_json_size(len(view), max_json)
        return view, view[len(view) :]
    text = header_length.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_HEADER_DIGITS):
        raise _bad(
            "Inference-Header-Content-Length must be a non-negative integer (ASCII digits), "
            f"got {short(header_length)}"
        )
    n = int(text)
    if n > len(view):
        raise _bad(
            f"Inference-Header-Content-Length {n} is longer than the body ({len(view)} bytes)"
        )
    _check_json_size(n, max_json)
    return view[:n], view[n:]


def _check_json_size(n: int, max_json: int | None) -> None:
    if max_json is not None and n > max_json:
        raise json_too_big(n, max_json)


def json_too_big(n: int | str, max_json: int) -> ServeError:
    """413 for a JSON part of ``n`` bytes over ``max_json``."""
    return ServeError(
        413,
        f"JSON of {n} bytes is over the JSON limit {max_json}: send big tensors with the "
        "binary tensor extension (Inference-Header-Content-Length, binary_data_size)",
    )


def _params(spec: dict[str, Any], where: str) -> dict[str, Any]:
    params = spec.get("parameters", {})
    if not isinstance(params, dict):
        raise _bad(f"{where}: 'parameters' must be a JSON object, got {type(params).__name__}")
    return params


def _flag(params: dict[str, Any], key: str, default: bool, where: str) -> bool:
    value = params.get(key, default)
    if not isinstance(value, bool):
        raise _bad(f"{where}: parameters.{key} must be true or false, got {short(value)}")
    return value


def _shape(spec: dict[str, Any], name: str) -> list[int]:
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in shape
    ):
        raise _bad(f"input {name!r}: shape must be a list of integers, got {short(shape)}")
    return check_dims(shape, name)


def check_dims(shape: list[int], name: str) -> list[int]:
    """``shape`` (integers) when its rank, signs and element count are allowed, else 400."""
    if len(shape) > 32:
        raise _bad(f"input {name!r}: rank {len(shape)} is over 32")
    if any(d < 0 for d in shape):
        raise _bad(f"input {name!r}: negative dimension in shape {short(shape)}")
    element_count(shape, name)  # 400 when over MAX_ELEMENTS, before any product overflows
    return shape


def check_against_model(
    name: str, datatype: str, shape: list[int], meta: TensorMeta, max_batch: int | None
) -> None:
    if datatype != meta.datatype:
        raise _bad(f"input {name!r}: datatype {datatype} but the model takes {meta.datatype}")
    if len(shape) != len(meta.shape):
        raise _bad(
            f"input {name!r}: rank {len(shape)} (shape {short(shape)}) but the model takes "
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


def _input(
    spec: Any, wanted: dict[str, TensorMeta], max_batch: int | None
) -> tuple[str, np.dtype, list[int], int | None, Any]:
    """(name, dtype, shape, binary size or None, JSON data) of one validated input spec."""
    if not isinstance(spec, dict):
        raise _bad(f"each input must be an object, got {type(spec).__name__}")
    missing = [k for k in ("name", "shape", "datatype") if k not in spec]
    name = spec.get("name", "?")
    if missing:
        raise _bad(f"input {short(name)}: missing {', '.join(missing)}")
    datatype = spec["datatype"]
    if not isinstance(name, str) or name not in wanted:
        raise _bad(f"unknown input {short(name)}; the model takes {', '.join(wanted)}")
    if not isinstance(datatype, str) or datatype not in TO_NUMPY:
        raise _bad(
            f"input {name!r}: unknown datatype {short(datatype)}; allowed: {', '.join(TO_NUMPY)}"
        )
    shape = _shape(spec, name)
    check_against_model(name, datatype, shape, wanted[name], max_batch)
    size = _params(spec, f"input {name!r}").get("binary_data_size")
    if size is None:
        if "data" not in spec:
            raise _bad(f"input {name!r}: no 'data' and no parameters.binary_data_size")
        return name, TO_NUMPY[datatype], shape, None, spec["data"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _bad(f"input {name!r}: binary_data_size must be a non-negative integer")
    return name, TO_NUMPY[datatype], shape, size, None


def parse_request(
    header: bytes | memoryview,
    binary: bytes | memoryview,
    model: ServedModel,
    max_batch: int | None,
) -> InferRequest:
    """Validate a request against ``model`` and return its numpy inputs (binary ones are
    read-only views of ``binary``)."""
    doc = jsoncodec.loads(header)
    if not isinstance(doc, dict):
        raise _bad(f"the request must be a JSON object, got {type(doc).__name__}")
    specs = doc.get("inputs")
    if not isinstance(specs, list) or not specs:
        raise _bad("the request needs a non-empty 'inputs' list")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _bad(f"'id' must be a string, got {type(request_id).__name__}")
    binary_default = _flag(_params(doc, "request"), "binary_data_output", False, "request")
    outputs = _outputs(doc, model, binary_default)
    wanted = {m.name: m for m in model.inputs}
    binary_view = memoryview(binary)
    inputs: dict[str, np.ndarray] = {}
    offset = 0
    for spec in specs:
        name, dtype, shape, size, data = _input(spec, wanted, max_batch)
        if name in inputs:
            raise _bad(f"duplicate input {name!r}")
        if size is None:
            inputs[name] = from_json(data, dtype, shape, name)
            continue
        need = element_count(shape, name) * dtype.itemsize
        if size != need:
            raise _bad(
                f"input {name!r}: binary_data_size {size} but shape {shape} of "
                f"{FROM_NUMPY[dtype]} needs {need} bytes"
            )
        if offset + size > len(binary_view):
            raise _bad(
                f"input {name!r}: binary_data_size {size} but only "
                f"{len(binary_view) - offset} bytes are left in the body"
            )
        inputs[name] = from_binary(binary_view[offset : offset + size], dtype, shape)
        offset += size
    if offset != len(binary_view):
        raise _bad(f"{len(binary_view) - offset} bytes of binary data left over after the inputs")
    absent = [n for n in wanted if n not in inputs]
    if absent:
        raise _bad(f"missing input(s) {', '.join(absent)}")
    batches = {a.shape[0] for a in inputs.values() if a.ndim}
    if len(batches) > 1:
        raise _bad(f"inputs disagree on the batch size: {sorted(batches)}")
    return InferRequest(request_id, inputs, outputs, batches.pop() if batches else 0)


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
        if not isinstance(name, str) or name not in names:
            raise _bad(
                f"unknown requested output {short(name)}; the model gives {', '.join(names)}"
            )
        if any(n == name for n, _ in out):
            raise _bad(f"duplicate requested output {name!r}")
        where = f"output {name!r}"
        out.append((name, _flag(_params(spec, where), "binary_data", binary_default, where)))
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
            entry["data"] = array.reshape(-1)
        outputs.append(entry)
    doc: dict[str, Any] = {
        "model_name": model.name,
        "model_version": model.version,
        "outputs": outputs,
    }
    if request.id is not None:
        doc["id"] = request.id
    header = jsoncodec.dumps(doc)
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)


__all__ = ["MAX_ELEMENTS", "InferRequest", "encode_response", "parse_request", "split_body"]
