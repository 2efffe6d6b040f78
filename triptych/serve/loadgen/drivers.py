"""Event-driven LoadGen clients: no thread per query in flight, no hop from LoadGen's issue
thread to a worker before a request leaves.

`HttpDriver`: ``connections`` keep-alive sockets; LoadGen's issue thread writes each request
on a free one at once (or queues it when all are busy), one reader thread waits on all of
them (``selectors``), completes each answered sample with LoadGen and writes the next queued
request on the freed connection. `GrpcDriver`: each sample is a non-blocking
``method.future`` call on one of a few shared channels, at most ``in_flight`` at once,
completed from grpcio's callback. Both keep the counters of `harness.Driver`.
"""

from __future__ import annotations

import selectors
import socket
import threading
from collections import deque
from typing import Any

import grpc
import mlperf_loadgen as lg

from triptych.serve import kserve_pb
from triptych.serve.loadgen.paths import content_length


class _Counts:
    """errors, completed and the first error's text."""

    def __init__(self) -> None:
        self.errors = 0
        self.completed = 0
        self.first_error = ""
        self.lock = threading.Lock()

    def done(self, sample_id: int, error: str | None) -> None:
        if error is not None:
            with self.lock:
                self.errors += 1
                self.first_error = self.first_error or error[:300]
        lg.QuerySamplesComplete([lg.QuerySampleResponse(sample_id, 0, 0)])
        self.completed += 1

    def flush(self) -> None:
        """LoadGen's flush callback: queries are sent as they are issued, nothing to flush."""


class _Conn:
    __slots__ = ("buf", "sample", "sock")

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.sample = -1  # LoadGen's id of the sample in flight here


class HttpDriver(_Counts):
    """``connections`` persistent HTTP/1.1 connections sending ``requests[index]``."""

    def __init__(self, port: int, requests: list[bytes], connections: int) -> None:
        super().__init__()
        self.requests = requests
        self.conns = [_Conn(port) for _ in range(connections)]
        self.free: deque[_Conn] = deque(self.conns)
        self.backlog: deque[tuple[int, int]] = deque()
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
                    self.backlog.append((s.id, s.index))
                    continue
            conn.sample = s.id
            conn.sock.sendall(self.requests[s.index])

    def _read(self) -> None:
        while self.running:
            for key, _ in self.selector.select():
                conn = key.data
                if conn is None:  # woken to stop
                    return
                self._on_readable(conn)

    def _on_readable(self, conn: _Conn) -> None:
        data = conn.sock.recv(1 << 16)
        if not data:
            self.selector.unregister(conn.sock)
            self.done(conn.sample, "server closed the connection")
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
        self.done(conn.sample, error)
        with self.lock:
            nxt = self.backlog.popleft() if self.backlog else None
            if nxt is None:
                self.free.append(conn)
                return
        conn.sample = nxt[0]
        conn.sock.sendall(self.requests[nxt[1]])

    def close(self) -> None:
        self.running = False
        self.wake_w.send(b"x")
        self.reader.join(30)
        for c in self.conns:
            c.sock.close()
        self.wake_r.close()
        self.wake_w.close()
        self.selector.close()


class GrpcDriver(_Counts):
    """ModelInfer calls of prepared bytes (responses stay bytes) round-robin over
    ``channels`` channels, at most ``in_flight`` at once."""

    def __init__(self, port: int, requests: list[bytes], in_flight: int, channels: int = 4):
        super().__init__()
        self.requests = requests
        self.channels = [grpc.insecure_channel(f"127.0.0.1:{port}") for _ in range(channels)]
        self.methods = [c.unary_unary(f"/{kserve_pb.SERVICE}/ModelInfer") for c in self.channels]
        self.slots = in_flight
        self.next = 0
        self.backlog: deque[tuple[int, int]] = deque()
        self.methods[0](requests[0], timeout=30)  # connect before the test starts

    def issue(self, samples: list) -> None:
        for s in samples:
            with self.lock:
                if self.slots == 0:
                    self.backlog.append((s.id, s.index))
                    continue
                self.slots -= 1
            self._send(s.id, s.index)

    def _send(self, sample_id: int, index: int) -> None:
        self.next += 1
        call = self.methods[self.next % len(self.methods)].future(self.requests[index], timeout=30)
        call.add_done_callback(lambda f, sid=sample_id: self._on_done(f, sid))

    def _on_done(self, call: Any, sample_id: int) -> None:
        error = None
        if call.code() != grpc.StatusCode.OK:
            error = f"gRPC {call.code().name}: {call.details()}"
        self.done(sample_id, error)
        with self.lock:
            nxt = self.backlog.popleft() if self.backlog else None
            if nxt is None:
                self.slots += 1
                return
        self._send(*nxt)

    def close(self) -> None:
        for c in self.channels:
            c.close()
