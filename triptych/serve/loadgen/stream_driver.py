"""`GrpcStreamDriver`: the LoadGen client of Triton's ModelStreamInfer.

``streams`` bidirectional streams, each on a channel (TCP connection) of its own, so that with
``--workers N`` the kernel spreads them over the server processes; all of them run on one
``grpc.aio`` event loop thread. LoadGen's issue thread hands the samples of each call to the
loop in one wake-up; each sample's prepared request bytes go to the next stream round-robin
and are written by that stream's writer task; the stream's reader task completes the samples
in order as the answers arrive (the server answers a stream's requests in order). Answers
stay bytes: a ``ModelStreamInferResponse`` whose first field is ``error_message`` (tag 0x0a)
is an error, one that starts with ``infer_response`` (tag 0x12) a success. Against the
grpcio echo floors (`benchmarks/loadgen/`) this client spends 101 us of CPU a query where the
callback-per-call unary client (`drivers.GrpcDriver`) spends 226 us.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any

import grpc

from triptych.serve import kserve_pb
from triptych.serve.loadgen.drivers import LOCAL_CONNECTION, Counts


class _Stream:
    __slots__ = ("call", "channel", "outbox", "pending", "reader", "writer")

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.call = channel.stream_stream(f"/{kserve_pb.SERVICE}/ModelStreamInfer")()
        self.outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.pending: deque[tuple[int, int]] = deque()  # (LoadGen id, generation) in order


class GrpcStreamDriver(Counts):
    """``streams`` ModelStreamInfer streams sending ``requests[index]`` (serialized
    ModelInferRequests) for LoadGen; counters as `harness.Driver`'s."""

    def __init__(self, port: int, requests: list[bytes], streams: int = 4) -> None:
        super().__init__()
        self.requests = requests
        self.next = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.streams: list[_Stream] = self._call(self._open(port, streams))
        # one request per stream before the test: every connection is up
        for i in range(streams):
            self.loop.call_soon_threadsafe(self._enqueue, [(-1, -1, 0)], self.streams[i])
        self._call(self._drained())

    def _call(self, coro: Any, timeout: float = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _open(self, port: int, count: int) -> list[_Stream]:
        out = []
        for _ in range(count):
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=LOCAL_CONNECTION)
            stream = _Stream(channel)
            stream.writer = asyncio.ensure_future(self._write(stream))
            stream.reader = asyncio.ensure_future(self._read(stream))
            out.append(stream)
        return out

    async def _drained(self, timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            while any(s.pending for s in self.streams):
                await asyncio.sleep(0.01)

    def issue(self, samples: list) -> None:
        with self.lock:
            generation = self.generation
        items = [(s.id, generation, s.index) for s in samples]
        self.loop.call_soon_threadsafe(self._enqueue, items)

    def _enqueue(self, items: list[tuple[int, int, int]], to: _Stream | None = None) -> None:
        """On the loop: queue each (id, generation, index) on ``to`` or round-robin."""
        for sample_id, generation, index in items:
            stream = to
            if stream is None:
                self.next += 1
                stream = self.streams[self.next % len(self.streams)]
            stream.pending.append((sample_id, generation))
            stream.outbox.put_nowait(self.requests[index])

    async def _write(self, stream: _Stream) -> None:
        while (request := await stream.outbox.get()) is not None:
            await stream.call.write(request)
        await stream.call.done_writing()

    async def _read(self, stream: _Stream) -> None:
        try:
            async for answer in stream.call:
                error = None
                if answer[:1] != b"\x12":
                    message = kserve_pb.ModelStreamInferResponse.FromString(answer)
                    error = f"stream error: {message.error_message}"
                self._complete(stream.pending.popleft(), error)
        except grpc.aio.AioRpcError as e:
            while stream.pending:  # the stream is gone: every sample still on it failed
                self._complete(stream.pending.popleft(), f"gRPC {e.code().name}: {e.details()}")

    def _complete(self, sample: tuple[int, int], error: str | None) -> None:
        if sample[0] >= 0:  # warm-up requests (id -1) are not LoadGen's
            self.done(sample, error)

    def close(self) -> None:
        async def shut() -> None:
            for s in self.streams:
                s.outbox.put_nowait(None)
            await asyncio.gather(*(s.reader for s in self.streams), return_exceptions=True)
            for s in self.streams:
                await s.channel.close()

        self._call(shut())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()
