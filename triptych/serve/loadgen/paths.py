"""The systems under test, each a way to run one sample: in-process onnxruntime, HTTP with
JSON tensors, HTTP with binary tensors, gRPC. Clients are lean: one persistent connection per
worker thread, every request's bytes prepared once per sample before the test, responses
checked for success only (status line / gRPC status) and not decoded."""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import Callable
from typing import Any

import grpc
import numpy as np

from triptych.serve import kserve_pb

PATHS = ("ort", "http_json", "http_binary", "grpc")
LABELS = {
    "ort": "in-process ORT",
    "http_json": "HTTP JSON",
    "http_binary": "HTTP binary",
    "grpc": "gRPC",
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


class HttpConnection:
    """One keep-alive HTTP/1.1 connection that sends prepared requests and reads each reply
    just far enough to know its status and length (``Content-Length``)."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def roundtrip(self, request: bytes) -> None:
        self.sock.sendall(request)
        buf = self.buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            buf += self._recv()
        head = buf[:end].lower()
        length = content_length(head)
        total = end + 4 + length
        while len(buf) < total:
            buf += self._recv()
        self.buf = buf[total:]
        if head[9:12] != b"200":
            raise RuntimeError(f"HTTP {head[9:12].decode()}: {buf[end + 4 : total][:200]!r}")

    def _recv(self) -> bytes:
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("server closed the connection")
        return data

    def close(self) -> None:
        self.sock.close()


def http_call_factory(port: int, requests: list[bytes]) -> Callable[[], Call]:
    """A factory of per-thread calls, each over its own persistent connection."""

    def make() -> Call:
        conn = HttpConnection(port)
        return lambda i: conn.roundtrip(requests[i])

    return make


def grpc_requests(model: str, input_name: str, samples: list[np.ndarray]) -> list[bytes]:
    """Serialized ModelInferRequests (raw_input_contents), one per sample."""
    out = []
    for x in samples:
        req = kserve_pb.ModelInferRequest(model_name=model)
        req.inputs.add(name=input_name, datatype="FP32", shape=list(x.shape))
        req.raw_input_contents.append(x.tobytes())
        out.append(req.SerializeToString())
    return out


def grpc_call_factory(port: int, requests: list[bytes], channels: int = 4) -> Callable[[], Call]:
    """Calls that send prepared bytes round-robin over ``channels`` shared channels (HTTP/2
    multiplexes many calls per connection); responses stay undecoded bytes."""
    made: list[Any] = []
    counter = itertools.count()

    def make() -> Call:
        k = next(counter) % channels
        while len(made) <= k:  # bytes in, bytes out: no protobuf work in the client
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            made.append(channel.unary_unary(f"/{kserve_pb.SERVICE}/ModelInfer"))
        method = made[k]
        return lambda i: method(requests[i], timeout=30)

    return make


def ort_call_factory(
    session: Any, input_name: str, samples: list[np.ndarray]
) -> Callable[[], Call]:
    """Calls of ``session.run`` in this process (the ceiling: no server, no transport)."""

    def make() -> Call:
        return lambda i: session.run(None, {input_name: samples[i]})

    return make
