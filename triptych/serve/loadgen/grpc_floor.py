"""The gRPC floor: what grpcio itself costs per call on this machine, with no model.

``python -m triptych.serve.loadgen.grpc_floor PORT RESPONSE_FILE`` serves
``/inference.GRPCInferenceService/ModelInfer`` and ``ModelStreamInfer`` with grpcio's threaded
server configured as `triptych serve`'s (`grpc_server.THREADS` handler threads, the same
message limits) and answers every call (every stream message) with the bytes of
``RESPONSE_FILE`` (a real ModelInferResponse of the
model, taken from the real server): no protobuf parsing, no validation, no onnxruntime. The
same LoadGen client measured against it gives the highest samples/s any grpcio server could
reach here, which bounds what the gRPC target can ask of ``triptych serve``.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc

from triptych.serve import kserve_pb
from triptych.serve.grpc_codec import stream_response
from triptych.serve.grpc_server import THREADS


def _identity(data: bytes) -> bytes:
    return data


def echo_server(port: int, response: bytes, threads: int = THREADS) -> grpc.Server:
    """A started grpcio server on 127.0.0.1:``port`` answering ModelInfer with ``response``
    and each ModelStreamInfer message with ``response`` wrapped as a stream answer."""
    streamed = stream_response(response)

    def infer(_request: bytes, _context: Any) -> bytes:
        return response

    def stream(requests: Iterator[bytes], _context: Any) -> Iterator[bytes]:
        for _ in requests:
            yield streamed

    handler = grpc.method_handlers_generic_handler(
        kserve_pb.SERVICE,
        {
            "ModelInfer": grpc.unary_unary_rpc_method_handler(infer, _identity, _identity),
            "ModelStreamInfer": grpc.stream_stream_rpc_method_handler(stream, _identity, _identity),
        },
    )
    limit = 64 << 20
    server = grpc.server(
        ThreadPoolExecutor(threads, thread_name_prefix="grpc"),
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
        ],
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server


@contextlib.contextmanager
def running(port: int, response: bytes, tmp: Path, timeout: float = 60.0) -> Iterator[int]:
    """The echo server in its own process until the block exits; yields its pid."""
    file = tmp / "grpc_floor_response.bin"
    file.write_bytes(response)
    cmd = [sys.executable, "-m", "triptych.serve.loadgen.grpc_floor", str(port), str(file)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        deadline = time.monotonic() + timeout
        method = channel.unary_unary(f"/{kserve_pb.SERVICE}/ModelInfer")
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gRPC floor server exited with {proc.returncode}")
            try:
                method(b"", timeout=2)
                break
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise RuntimeError("gRPC floor server did not start") from None
                time.sleep(0.2)
        channel.close()
        yield proc.pid
    finally:
        stop(proc)


def stop(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM ``proc``, and SIGKILL it when it has not exited within ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


if __name__ == "__main__":
    echo_server(int(sys.argv[1]), Path(sys.argv[2]).read_bytes()).wait_for_termination()
