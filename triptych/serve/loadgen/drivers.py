"""Event-driven LoadGen clients: no thread per query in flight, no hop from LoadGen's issue
thread to a worker before a request leaves.

`HttpDriver`: ``connections`` keep-alive sockets; LoadGen's issue thread writes each request
on a free one at once (or queues it when all are busy), one reader thread waits on all of
them (``selectors``), completes each answered sample with LoadGen and writes the next queued
request on the freed connection. `GrpcDriver`: each sample is a non-blocking
``method.future`` call on one of a few shared channels (a TCP connection each, so that
``--workers N`` spreads them over the server processes), at most ``in_flight`` at once,
completed from grpcio's callback (`h2_stream` has the ModelStreamInfer client). Both
keep the counters of `harness.Driver`.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from collections import deque
from typing import Any

import grpc
import mlperf_loadgen as lg

from triptych.serve import kserve_pb
from triptych.serve.loadgen.paths import content_length

LOCAL_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]  # a TCP connection per channel


class Counts:
    """errors, completed and the first error's text; ``generation`` numbers the LoadGen
    tests: a sample issued in an earlier test is never completed (its id is a pointer into
    LoadGen's memory of a test that is over: completing it crashes the process)."""

    def __init__(self) -> None:
        self.errors = 0
        self.completed = 0
        self.first_error = ""
        self.lock = threading.Lock()
        self.generation = 0

    def end_test(self) -> None:
        """Called when a LoadGen test has returned: late answers of its samples are dropped."""
        with self.lock:
            self.generation += 1

    def done(self, sample: tuple[int, int], error: str | None) -> None:
        """Complete ``sample`` = (LoadGen id, generation) unless its test is over."""
        with self.lock:
            if error is not None:
                self.errors += 1
                self.first_error = self.first_error or error[:300]
            if sample[1] != self.generation:
                return
            self.completed += 1
        # outside the lock: LoadGen's issue thread may wait for it inside `issue`
        lg.QuerySamplesComplete([lg.QuerySampleResponse(sample[0], 0, 0)])

    def flush(self) -> None:
        """LoadGen's flush callback: queries are sent as they are issued, nothing to flush."""


class _Conn:
    __slots__ = ("buf", "sample", "sock")

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.sample: tuple[int, int] | None = None  # (LoadGen id, generation) in flight here


class HttpDriver(Counts):
    """``connections`` persistent HTTP/1.1 connections sending ``requests[index]``."""

    def __init__(self, port: int, requests: list[bytes], connections: int) -> None:
        super().__init__()
        self.requests = requests
        self.conns = [_Conn(port) for _ in range(connections)]
        self.free: deque[_Conn] = deque(self.conns)
        self.backlog: deque[tuple[int, int, int]] = deque()
        self.port = port
        self.selector = selectors.DefaultSelector()
        for c in self.conns:
            self.selector.register(c.sock, selectors.EVENT_READ, c)
        self.wake_r, self.wake_w = socket.socketpair()
        self.selector.register(self.wake_r, selectors.EVENT_READ, None)
        self.running = True
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def issue(self, samples: list) -> None:
        for s in samples:
            with self.lock:
                conn = self.free.popleft() if self.free else None
                if conn is None:
                    self.backlog.append((s.id, self.generation, s.index))
                    continue
                conn.sample = (s.id, self.generation)
            self._send(conn, s.index)

    def _send(self, conn: _Conn, index: int) -> None:
        try:
            conn.sock.sendall(self.requests[index])
        except OSError:  # closed by the server while idle (keep-alive timeout): reconnect
            self._reconnect(conn)
            conn.sock.sendall(self.requests[index])

    def _reconnect(self, conn: _Conn) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn.sock)
        conn.sock.close()
        fresh = _Conn(self.port)
        conn.sock, conn.buf = fresh.sock, b""
        self.selector.register(conn.sock, selectors.EVENT_READ, conn)

    def _read(self) -> None:
        while self.running:
            for key, _ in self.selector.select():
                conn = key.data
                if conn is None:  # woken to stop
                    return
                self._on_readable(conn)

    def _on_readable(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(1 << 16)
        except OSError:
            data = b""
        if not data:  # closed by the server
            with self.lock:
                sample, conn.sample = conn.sample, None
            if sample is None:  # idle (keep-alive timeout): the next send reconnects
                with contextlib.suppress(KeyError, ValueError):
                    self.selector.unregister(conn.sock)
                return
            self.done(sample, "server closed the connection")
            self._reconnect(conn)
            self._next(conn)
            return
        buf = conn.buf + data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            conn.buf = buf
            return
        head = buf[:end].lower()
        total = end + 4 + content_length(head)
        if len(buf) < total:
            conn.buf = buf
            return
        conn.buf = buf[total:]
        error = None
        if head[9:12] != b"200":
            error = f"HTTP {head[9:12]!r}: {buf[end + 4 : total][:200]!r}"
        sample, conn.sample = conn.sample, None
        if sample is not None:
            self.done(sample, error)
        self._next(conn)

    def _next(self, conn: _Conn) -> None:
        """Send the oldest queued request on ``conn``, or mark it free."""
        with self.lock:
            nxt = self.backlog.popleft() if self.backlog else None
            if nxt is None:
                self.free.append(conn)
                return
            conn.sample = (nxt[0], nxt[1])
        self._send(conn, nxt[2])

    def close(self) -> None:
        self.running = False
        self.wake_w.send(b"x")
        self.reader.join(30)
        for c in self.conns:
            c.sock.close()
        self.wake_r.close()
        self.wake_w.close()
        self.selector.close()


class GrpcDriver(Counts):
    """ModelInfer calls of prepared bytes (responses stay bytes) round-robin over
    ``channels`` channels, at most ``in_flight`` at once."""

    def __init__(self, port: int, requests: list[bytes], in_flight: int, channels: int = 4):
        super().__init__()
        self.requests = requests
        self.channels = [
            grpc.insecure_channel(f"127.0.0.1:{port}", options=LOCAL_CONNECTION)
            for _ in range(channels)
        ]
        self.methods = [c.unary_unary(f"/{kserve_pb.SERVICE}/ModelInfer") for c in self.channels]
        self.slots = in_flight
        self.next = 0
        self.backlog: deque[tuple[int, int, int]] = deque()
        self.methods[0](requests[0], timeout=30)  # connect before the test starts

    def issue(self, samples: list) -> None:
        for s in samples:
            with self.lock:
                if self.slots == 0:
                    self.backlog.append((s.id, self.generation, s.index))
                    continue
                self.slots -= 1
                generation = self.generation
            self._send(s.id, generation, s.index)

    def _send(self, sample_id: int, generation: int, index: int) -> None:
        self.next += 1
        call = self.methods[self.next % len(self.methods)].future(self.requests[index], timeout=30)
        call.add_done_callback(lambda f, s=(sample_id, generation): self._on_done(f, s))

    def _on_done(self, call: Any, sample: tuple[int, int]) -> None:
        error = None
        if call.code() != grpc.StatusCode.OK:
            error = f"gRPC {call.code().name}: {call.details()}"
        self.done(sample, error)
        with self.lock:
            nxt = self.backlog.popleft() if self.backlog else None
            if nxt is None:
                self.slots += 1
                return
        self._send(*nxt)

    def close(self) -> None:
        for c in self.channels:
            c.close()
