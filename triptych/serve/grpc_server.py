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
open stream holds a handler thread, so at most `MAX_STREAMS` are open at once and
`MAX_STREAMS_PER_CLIENT` per client connection, and the other handler threads stay for unary
calls; idle streams are closed after ``ServeConfig.stream_idle_s`` and give their place to a
new stream when every place is taken (`streams`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from triptych.common.version import __version__
from triptych.serve import kserve_pb
from triptych.serve.app import Core
from triptych.serve.errors import ServeError
from triptych.serve.grpc_codec import encode_infer, parse_infer, stream_error, stream_response
from triptych.serve.streams import StreamTable

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
MAX_STREAMS_PER_CLIENT = MAX_STREAMS // 2  # of them, on one client connection
DRAIN_TICK_S = 0.02  # seconds between checks for running requests during a drain
EVICT_AFTER_S = 1.0  # idle seconds after which a stream gives its place to a new one


def _closer(context: Any) -> Callable[[str], None]:
    """Ends ``context``'s call from any thread: UNAVAILABLE with the reason where grpcio's
    call object takes a status (its private ``_rpc_event``), else a plain cancel."""

    def close(reason: str) -> None:
        try:
            context._rpc_event.call.cancel(grpc.StatusCode.UNAVAILABLE.value[0], reason)
        except (AttributeError, TypeError):
            context.cancel()

    return close


class Servicer:
    """The six RPCs over ``core`` (called on the server's handler threads)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.streams = StreamTable(
            MAX_STREAMS, MAX_STREAMS_PER_CLIENT, core.config.stream_idle_s, EVICT_AFTER_S
        )
        self.calls = 0  # ModelInfer calls running now
        self.calls_lock = threading.Lock()

    def working(self) -> int:
        """Requests being answered now: ModelInfer calls plus busy streams."""
        with self.streams.lock:
            busy = sum(s.busy for s in self.streams.open_streams)
        return self.calls + busy

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
        with self.calls_lock:
            self.calls += 1
        try:
            response = self._infer(request)
            status = 200
            return response
        except ServeError as e:
            status = e.status
            context.abort(STATUS.get(e.status, grpc.StatusCode.UNKNOWN), str(e))
        finally:
            with self.calls_lock:
                self.calls -= 1
            self.core.metrics.observe(request.model_name, time.perf_counter() - t0, status)

    def ModelStreamInfer(self, requests: Iterator[Any], context: Any) -> Iterator[bytes]:
        """Answer each request of the stream in order with a serialized
        ``ModelStreamInferResponse`` (an error answers that request only)."""
        stream = self.streams.open(context.peer(), _closer(context))
        if isinstance(stream, str):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, stream)
        try:
            for request in requests:
                if not self.streams.start(stream):
                    return
                answer = self._stream_answer(request)
                keep = self.streams.done(stream)
                yield answer
                if not keep:
                    return
        except grpc.RpcError:
            return  # closed by the stream table (idle) or cancelled by the client
        finally:
            self.streams.release(stream)

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


class GrpcServer:
    """grpcio's server with a drain that ends when the work does: ``stop(grace)`` refuses new
    calls, closes the idle ModelStreamInfer streams (`StreamTable.drain`), and once no call or
    stream is answering a request (checked every `DRAIN_TICK_S` s; at most ``grace`` s) ends
    what is left (grpcio alone waits out the whole grace period for any call it still holds,
    an idle stream or one whose message did not decode). Other attributes are grpcio's."""

    def __init__(self, server: grpc.Server, servicer: Servicer) -> None:
        self.server, self.servicer = server, servicer

    def stop(self, grace: float | None) -> threading.Event:
        """An event set once no request is being answered (or ``grace`` seconds have passed;
        None: now), when the remaining calls are cancelled. grpcio's own shutdown event is not
        waited for: after a message that did not decode it may never come."""
        self.servicer.streams.drain()
        self.server.stop(grace)
        if grace is None:
            done = threading.Event()
            done.set()
            return done
        deadline = time.monotonic() + grace
        done = threading.Event()

        def finish() -> None:
            while self.servicer.working() and time.monotonic() < deadline:
                time.sleep(DRAIN_TICK_S)
            done.set()
            self.server.stop(None)  # cancels what is left; may block: last, in this thread

        threading.Thread(target=finish, name="grpc-drain", daemon=True).start()
        return done

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)


def create_grpc_server(
    core: Core, host: str, port: int, reuse_port: bool = False, threads: int = THREADS
) -> GrpcServer:
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
    servicer = Servicer(core)
    server.add_generic_rpc_handlers((rpc_handler(servicer),))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        server.add_insecure_port(address)
    except RuntimeError as e:
        raise ValueError(f"cannot bind gRPC {address}: {e}") from None
    return GrpcServer(server, servicer)
