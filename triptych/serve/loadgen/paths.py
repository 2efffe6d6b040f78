"""The systems under test: in-process onnxruntime, HTTP with JSON tensors, HTTP with binary
tensors, gRPC ModelInfer calls, gRPC ModelStreamInfer streams. Every request's bytes are
prepared once per sample before the test; responses are checked for success only (status line /
gRPC status) and not decoded (`drivers`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from triptych.serve import kserve_pb

PATHS = ("ort", "http_json", "http_binary", "grpc", "grpc_stream")
GRPC_PATHS = ("grpc", "grpc_stream")
LABELS = {
    "ort": "in-process ORT",
    "http_json": "HTTP JSON",
    "http_binary": "HTTP binary",
    "grpc": "gRPC",
    "grpc_stream": "gRPC stream (ModelStreamInfer)",
    "grpc_floor": "gRPC floor (grpcio echo, no model)",
    "grpc_stream_floor": "gRPC stream floor (grpcio echo, no model)",
}
Call = Callable[[int], None]  # run sample ``index``; raises on failure


def http_requests(
    model: str, input_name: str, samples: list[np.ndarray], binary: bool
) -> list[bytes]:
    """Whole HTTP/1.1 requests (head + body), one per sample (batch 1)."""
    out = []
    for x in samples:
        spec: dict[str, Any] = {"name": input_name, "shape": list(x.shape), "datatype": "FP32"}
        if binary:
            spec["parameters"] = {"binary_data_size": x.nbytes}
            header = json.dumps(
                {"inputs": [spec], "parameters": {"binary_data_output": True}}
            ).encode()
            body = header + x.tobytes()
            extra = f"Inference-Header-Content-Length: {len(header)}\r\n"
        else:
            spec["data"] = x.ravel().tolist()
            body = json.dumps({"inputs": [spec]}).encode()
            extra = ""
        head = (
            f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n"
        ).encode()
        out.append(head + body)
    return out


def content_length(head: bytes) -> int:
    """The Content-Length of a lower-cased response head (status line + headers, no blank
    line); matched at a line start, so ``inference-header-content-length`` is not taken."""
    start = head.find(b"\r\ncontent-length:")
    if start < 0:
        raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
    start += 17
    stop = head.find(b"\r\n", start)
    return int(head[start : stop if stop >= 0 else None])


def grpc_requests(model: str, input_name: str, samples: list[np.ndarray]) -> list[bytes]:
    """Serialized ModelInferRequests (raw_input_contents), one per sample."""
    out = []
    for x in samples:
        req = kserve_pb.ModelInferRequest(model_name=model)
        req.inputs.add(name=input_name, datatype="FP32", shape=list(x.shape))
        req.raw_input_contents.append(x.tobytes())
        out.append(req.SerializeToString())
    return out


def ort_call_factory(
    session: Any, input_name: str, samples: list[np.ndarray]
) -> Callable[[], Call]:
    """Calls of ``session.run`` in this process (the ceiling: no server, no transport)."""

    def make() -> Call:
        return lambda i: session.run(None, {input_name: samples[i]})

    return make
