"""The KServe v2 gRPC endpoint (``inference.GRPCInferenceService``) over the same `Core` as
HTTP: same repository, validation, metrics and dynamic batcher (which is thread-safe).

grpcio's synchronous server: a thread pool of ``threads`` handlers, each parsing its request
(``raw_input_contents`` as zero-copy numpy views), running onnxruntime through the model's
batcher and encoding the answer (no compression). A request that finds the model idle runs
on its handler thread at once; those that arrive while it is busy are merged
(`Core.run_model_sync`). Running short runs on the handler thread even when the model is busy
(skipping the merge and the runner thread's hand-off) was measured too: no less CPU per
request (medians of 8 interleaved rounds within noise), so merging stays.

Where the CPU goes (GAN generator at batch 1 under LoadGen, 2 cores): ~500-700 us of server
CPU per request, most of it grpcio's own per-RPC machinery (an echo RPC with no model and no
protobuf parsing costs ~300-550 us on this server; ~60 futex calls per RPC under strace,
the GIL passed between the polling thread and the handler threads). ``grpc.aio`` on a loop
thread of its own was tried: ~35 syscalls per RPC instead (the poller thread wakes the loop
through a socket for every completion), no less CPU per request, and worse p99 latency in
the Server scenario, so the threaded server stays.

RPCs: ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata, ModelInfer, and
Triton's ModelStreamInfer. Faults are gRPC status codes with the HTTP path's one-line message:
400 -> INVALID_ARGUMENT, 404 -> NOT_FOUND, 413 -> RESOURCE_EXHAUSTED, 500 -> INTERNAL,
503 -> UNAVAILABLE. Messages are bounded by ``ServeConfig.max_body`` (bytes, default 64 MiB)
both ways.

ModelStreamInfer (bidirectional; what tritonclient.grpc's ``start_stream`` and
``async_stream_infer`` use): a stream's requests are answered in order, one at a time, on the
handler thread that holds the stream; a faulty request is answered with its
``error_message`` (and its id) and the stream goes on. A stream costs grpcio far less per
message than a ModelInfer call (no call set-up per request); see `benchmarks/loadgen/`. Each
open stream holds a handler thread, so at most `MAX_STREAMS` are open at once (more are
refused with RESOURCE_EXHAUSTED) and the other handler threads stay for unary calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from triptych.common.version import __version__
from triptych.serve import kserve_pb
from triptych.serve.app import Core
from triptych.serve.errors import ServeError
from triptych.serve.grpc_codec import encode_infer, parse_infer, stream_error, stream_response

STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    503: grpc.StatusCode.UNAVAILABLE,
}
THREADS = 32  # handler threads: requests served at once (the rest wait in grpcio's queue)
MAX_STREAMS = THREADS // 2  # open ModelStreamInfer streams at once (each holds a thread)


class Servicer:
    """The six RPCs over ``core`` (called on the server's handler threads)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.streams = 0  # ModelStreamInfer streams open now
        self.streams_lock = threading.Lock()

    def ServerLive(self, request: Any, context: Any) -> Any:
        return kserve_pb.ServerLiveResponse(live=True)

    def ServerReady(self, request: Any, context: Any) -> Any:
        return kserve_pb.ServerReadyResponse(ready=True)

    def ServerMetadata(self, request: Any, context: Any) -> Any:
        return kserve_pb.ServerMetadataResponse(
            name="triptych", version=__version__, extensions=["model_repository"]
        )

    def ModelReady(self, request: Any, context: Any) -> Any:
        try:
            self.core.repo.get(request.name, request.version or None)
        except ServeError as e:
            context.abort(STATUS[e.status], str(e))
        return kserve_pb.ModelReadyResponse(ready=True)

    def ModelMetadata(self, request: Any, context: Any) -> Any:
        try:
            meta = self.core.repo.get(request.name, request.version or None).metadata()
        except ServeError as e:
            context.abort(STATUS[e.status], str(e))
        return kserve_pb.ModelMetadataResponse(**meta)

    def ModelInfer(self, request: Any, context: Any) -> Any:
        t0 = time.perf_counter()
        status = 500
        try:
            response = self._infer(request)
            status = 200
            return response
        except ServeError as e:
            status = e.status
            context.abort(STATUS.get(e.status, grpc.StatusCode.UNKNOWN), str(e))
        finally:
            self.core.metrics.observe(request.model_name, time.perf_counter() - t0, status)

    def ModelStreamInfer(self, requests: Iterator[Any], context: Any) -> Iterator[bytes]:
        """Answer each request of the stream in order with a serialized
        ``ModelStreamInferResponse`` (an error answers that request only)."""
        with self.streams_lock:
            full = self.streams >= MAX_STREAMS
            self.streams += 0 if full else 1
        if full:
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{MAX_STREAMS} ModelStreamInfer streams are open already (the most at once); "
                "close one, or send ModelInfer calls",
            )
        try:
            for request in requests:
                yield self._stream_answer(request)
        finally:
            with self.streams_lock:
                self.streams -= 1

    def _stream_answer(self, request: Any) -> bytes:
        t0 = time.perf_counter()
        try:
            answer = stream_response(self._infer(request).SerializeToString())
            status = 200
        except ServeError as e:
            answer, status = stream_error(request, str(e)), e.status
        self.core.metrics.observe(request.model_name, time.perf_counter() - t0, status)
        return answer

    def _infer(self, request: Any) -> Any:
        core = self.core
        model = core.repo.get(request.model_name, request.model_version or None)
        max_batch = core.config.max_batch if model.batched else None
        req = parse_infer(request, model, max_batch)
        try:
            results = core.run_model_sync(model, req.inputs)
        except Exception as e:  # a real runtime failure inside onnxruntime
            raise ServeError(500, f"onnxruntime failed: {type(e).__name__}: {e}") from e
        return encode_infer(model, req, results)


def rpc_handler(servicer: Servicer) -> grpc.GenericRpcHandler:
    """The generic handler that routes ``/inference.GRPCInferenceService/<RPC>``."""
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name),
            request_deserializer=req.FromString,
            response_serializer=resp.SerializeToString,
        )
        for name, (req, resp) in kserve_pb.RPCS.items()
    }
    handlers["ModelStreamInfer"] = grpc.stream_stream_rpc_method_handler(
        servicer.ModelStreamInfer,
        request_deserializer=kserve_pb.ModelInferRequest.FromString,
        response_serializer=None,  # the handler yields serialized bytes
    )
    return grpc.method_handlers_generic_handler(kserve_pb.SERVICE, handlers)


def create_grpc_server(
    core: Core, host: str, port: int, reuse_port: bool = False, threads: int = THREADS
) -> grpc.Server:
    """A gRPC server bound to ``host:port`` (not started: ``start()``, then ``stop(grace)``)
    with ``threads`` handler threads. ``reuse_port``: share the port with other processes
    (SO_REUSEPORT, for ``--workers``); off, a taken port is a ValueError."""
    limit = core.config.max_body
    server = grpc.server(
        ThreadPoolExecutor(threads, thread_name_prefix="grpc"),
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
            ("grpc.so_reuseport", int(reuse_port)),
        ],
    )
    server.add_generic_rpc_handlers((rpc_handler(Servicer(core)),))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        server.add_insecure_port(address)
    except RuntimeError as e:
        raise ValueError(f"cannot bind gRPC {address}: {e}") from None
    return server
