"""KServe v2 gRPC ModelInfer messages <-> numpy, with the HTTP path's validation.

Inputs come as ``raw_input_contents`` (one bytes per input, in input order: a zero-copy
``np.frombuffer`` view) or as typed ``contents`` (``fp32_contents``, ``int_contents``, ...).
Shapes, datatypes, batch limits and element counts are checked by the same functions as the
HTTP path (`protocol`, `tensors`), before onnxruntime runs; every fault is `ServeError(400)`.
Outputs always go back as ``raw_output_contents`` (what Triton does; tritonclient.grpc's
``as_numpy`` reads them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from triptych.serve import kserve_pb
from triptych.serve.datatypes import FROM_NUMPY, TO_NUMPY
from triptych.serve.errors import ServeError
from triptych.serve.protocol import InferRequest, check_against_model, check_dims
from triptych.serve.repository import ServedModel
from triptych.serve.tensors import cast, element_count, from_binary, short

#: datatype -> the InferTensorContents field that carries it (FP16 only travels raw)
CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}
#: the numpy type each contents field holds on the wire
_FIELD_DTYPE = {
    "bool_contents": np.dtype(bool),
    "int_contents": np.dtype(np.int32),
    "int64_contents": np.dtype(np.int64),
    "uint_contents": np.dtype(np.uint32),
    "uint64_contents": np.dtype(np.uint64),
    "fp32_contents": np.dtype(np.float32),
    "fp64_contents": np.dtype(np.float64),
}


def _bad(msg: str) -> ServeError:
    return ServeError(400, msg)


def _typed(tensor: Any, datatype: str, dtype: np.dtype, shape: list[int], name: str) -> Any:
    field = CONTENTS_FIELD.get(datatype)
    if field is None:
        raise _bad(f"input {name!r}: {datatype} travels only in raw_input_contents")
    used = [f.name for f, _ in tensor.contents.ListFields()]
    if used and used != [field]:
        raise _bad(f"input {name!r}: datatype {datatype} takes contents.{field}, got {used}")
    values = getattr(tensor.contents, field)
    expected = element_count(shape, name)
    if len(values) != expected:
        raise _bad(
            f"input {name!r}: {len(values)} elements in contents.{field} for shape "
            f"{short(shape)} ({expected} expected)"
        )
    array = np.fromiter(values, dtype=_FIELD_DTYPE[field], count=expected)
    return cast(array, dtype, name).reshape(shape)


def parse_infer(request: Any, model: ServedModel, max_batch: int | None) -> InferRequest:
    """A validated `InferRequest` from a ``ModelInferRequest`` for ``model``."""
    tensors = request.inputs
    if not tensors:
        raise _bad("the request needs at least one input")
    raw = request.raw_input_contents
    if raw and len(raw) != len(tensors):
        raise _bad(
            f"raw_input_contents has {len(raw)} entries for {len(tensors)} inputs "
            "(one per input, in input order)"
        )
    wanted = {m.name: m for m in model.inputs}
    inputs: dict[str, np.ndarray] = {}
    for i, tensor in enumerate(tensors):
        name, datatype = tensor.name, tensor.datatype
        if name not in wanted:
            raise _bad(f"unknown input {short(name)}; the model takes {', '.join(wanted)}")
        if name in inputs:
            raise _bad(f"duplicate input {name!r}")
        if datatype not in TO_NUMPY:
            raise _bad(
                f"input {name!r}: unknown datatype {short(datatype)}; "
                f"allowed: {', '.join(TO_NUMPY)}"
            )
        shape = check_dims(list(tensor.shape), name)
        check_against_model(name, datatype, shape, wanted[name], max_batch)
        dtype = TO_NUMPY[datatype]
        if not raw:
            inputs[name] = _typed(tensor, datatype, dtype, shape, name)
            continue
        if tensor.HasField("contents"):
            raise _bad(f"input {name!r}: both contents and raw_input_contents are given")
        need = element_count(shape, name) * dtype.itemsize
        if len(raw[i]) != need:
            raise _bad(
                f"input {name!r}: {len(raw[i])} bytes of raw_input_contents but shape "
                f"{shape} of {datatype} needs {need} bytes"
            )
        inputs[name] = from_binary(memoryview(raw[i]), dtype, shape)
    absent = [n for n in wanted if n not in inputs]
    if absent:
        raise _bad(f"missing input(s) {', '.join(absent)}")
    batches = {a.shape[0] for a in inputs.values() if a.ndim}
    if len(batches) > 1:
        raise _bad(f"inputs disagree on the batch size: {sorted(batches)}")
    return InferRequest(
        request.id or None, inputs, _outputs(request, model), batches.pop() if batches else 0
    )


def _outputs(request: Any, model: ServedModel) -> list[tuple[str, bool]]:
    names = [o.name for o in model.outputs]
    if not request.outputs:
        return [(n, True) for n in names]
    out: list[tuple[str, bool]] = []
    for spec in request.outputs:
        if spec.name not in names:
            raise _bad(
                f"unknown requested output {short(spec.name)}; the model gives {', '.join(names)}"
            )
        if any(n == spec.name for n, _ in out):
            raise _bad(f"duplicate requested output {spec.name!r}")
        out.append((spec.name, True))
    return out


def encode_infer(model: ServedModel, request: InferRequest, results: dict[str, np.ndarray]) -> Any:
    """The ``ModelInferResponse`` with every requested output in ``raw_output_contents``."""
    response = kserve_pb.ModelInferResponse(
        model_name=model.name, model_version=model.version, id=request.id or ""
    )
    for name, _ in request.outputs:
        array = np.ascontiguousarray(results[name])
        response.outputs.add(name=name, datatype=FROM_NUMPY[array.dtype], shape=array.shape)
        response.raw_output_contents.append(array.tobytes())
    return response


def stream_response(infer_response: bytes) -> bytes:
    """A serialized ``ModelStreamInferResponse`` whose ``infer_response`` (field 2) is the
    already serialized ``infer_response``: the wire bytes protobuf would write, without
    copying the response into a wrapper message first."""
    size, head = len(infer_response), bytearray(b"\x12")  # field 2, length-delimited
    while size > 0x7F:
        head.append(0x80 | (size & 0x7F))
        size >>= 7
    head.append(size)
    return bytes(head) + infer_response


def stream_error(request: Any, message: str) -> bytes:
    """A serialized ``ModelStreamInferResponse`` carrying ``message`` for ``request`` (its
    model name, version and id in ``infer_response``, so a client can tell which failed)."""
    return kserve_pb.ModelStreamInferResponse(
        error_message=message,
        infer_response=kserve_pb.ModelInferResponse(
            model_name=request.model_name, model_version=request.model_version, id=request.id
        ),
    ).SerializeToString()
