"""`H2StreamDriver`: a lean LoadGen client of Triton's ModelStreamInfer, speaking HTTP/2 itself.

grpcio's Python client pays for several thread wake-ups per message (LoadGen's thread, the
event loop, grpc's poller): a grpc.aio stream client measured 81-198 us of CPU a query Offline
and 366-475 us in the Server scenario (`benchmarks/loadgen/` at commit 41c47ce), close to what
the server it measured spent. This client does what the raw HTTP client (`drivers.HttpDriver`)
does for HTTP/1.1: one TCP connection per stream (so ``--workers N`` spreads them), each
request written by LoadGen's issue thread as one prepared HTTP/2 DATA frame (a gRPC message: 1
byte compressed flag, 4 bytes length, the serialized ModelInferRequest), and one reader thread
(``selectors``) that parses the frames coming back, completes the samples in order (the server
answers a stream's requests in order), sends a waiting request on the stream that just answered
(at most ``depth`` in flight a stream, the rest wait: requests go where answers come back,
whichever server process holds how many of the connections) and answers what HTTP/2 asks of a
peer: SETTINGS and PING acknowledgements, the server's WINDOW_UPDATEs (requests wait while the
server's flow-control window is spent) and our own receive window (set to the maximum at the
start and topped up as answers are read). Response headers are never decoded (no HPACK state is
needed for that); a HEADERS frame that ends the stream, RST_STREAM or GOAWAY fail the samples
still in flight on it. Answers stay bytes: a ``ModelStreamInferResponse`` that starts with
``infer_response`` (tag 0x12) is a success, one that starts with ``error_message`` (tag 0x0a)
an error.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from collections import deque

from triptych.serve import kserve_pb
from triptych.serve.loadgen.drivers import Counts

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, ACK, END_HEADERS, PADDED = 0x1, 0x1, 0x4, 0x8
MAX_WINDOW = (1 << 31) - 1
DEFAULT_WINDOW = 65535
STREAM = 1  # the one stream of each connection
TOP_UP = 1 << 24  # bytes read before our receive windows are topped up again
STREAMS = 8  # connections; with --workers N the kernel spreads them over the N processes
DEPTH = 16  # requests in flight on a stream at most; the rest wait for the least busy one


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    """One HTTP/2 frame: 3-byte length, type, flags, 31-bit stream id, payload."""
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", kind, flags, stream) + payload


def _literal(name: bytes, value: bytes) -> bytes:
    """An HPACK literal header field without indexing, new name, no Huffman (values < 127)."""
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def request_headers(authority: str, path: str) -> bytes:
    """The HPACK block opening a gRPC call: POST, http, ``path``, ``authority``."""
    block = b"\x83\x86"  # static table: :method POST, :scheme http
    block += b"\x04" + bytes([len(path)]) + path.encode()  # :path, name from the table
    block += b"\x01" + bytes([len(authority)]) + authority.encode()  # :authority
    block += _literal(b"content-type", b"application/grpc") + _literal(b"te", b"trailers")
    return block


def data_frame(message: bytes, end: bool = False) -> bytes:
    """A DATA frame on the stream carrying one gRPC message (uncompressed)."""
    payload = b"\x00" + struct.pack(">I", len(message)) + message
    return frame(DATA, END_STREAM if end else 0, STREAM, payload)


class _Conn:
    """One connection, one stream: the send window, requests waiting for it, samples in
    flight in order, and unparsed bytes."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self.conn_window = DEFAULT_WINDOW  # what the server lets us send, connection-wide
        self.stream_window = DEFAULT_WINDOW  # and on the stream
        self.waiting: deque[bytes] = deque()  # frames held back by flow control
        self.pending: deque[tuple[int, int]] = deque()  # (LoadGen id, generation)
        self.inbuf = bytearray()
        self.message = bytearray()  # gRPC message bytes of the stream, not yet whole
        self.unacked = 0  # bytes read since our receive windows were last topped up
        self.held = 0  # frames that had to wait for the server's window

    @classmethod
    def open(cls, port: int) -> _Conn:
        """Connect to 127.0.0.1:``port`` and open the ModelStreamInfer stream."""
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        path = f"/{kserve_pb.SERVICE}/ModelStreamInfer"
        sock.sendall(
            PREFACE
            + frame(SETTINGS, 0, 0, struct.pack(">HI", 0x4, MAX_WINDOW))  # INITIAL_WINDOW_SIZE
            + frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", MAX_WINDOW - DEFAULT_WINDOW))
            + frame(HEADERS, END_HEADERS, STREAM, request_headers(f"127.0.0.1:{port}", path))
        )
        sock.settimeout(None)
        return cls(sock)

    def window_update(self, stream: int, grant: int) -> None:
        """The server let us send ``grant`` more bytes on ``stream`` (0: the connection)."""
        with self.lock:
            if stream == 0:
                self.conn_window += grant
            else:
                self.stream_window += grant
            self.flush_waiting()

    def send(self, data: bytes) -> None:
        """Send a DATA frame now if the windows allow it, else queue it (call with lock)."""
        if self.waiting or len(data) - 9 > min(self.conn_window, self.stream_window):
            self.waiting.append(data)
            self.held += 1
            return
        self.conn_window -= len(data) - 9
        self.stream_window -= len(data) - 9
        self.sock.sendall(data)

    def flush_waiting(self) -> None:
        """Send the queued frames the windows allow now (call with lock)."""
        while self.waiting:
            size = len(self.waiting[0]) - 9
            if size > min(self.conn_window, self.stream_window):
                return
            self.conn_window -= size
            self.stream_window -= size
            self.sock.sendall(self.waiting.popleft())


class H2StreamDriver(Counts):
    """``streams`` ModelStreamInfer streams (a TCP connection each) sending
    ``requests[index]`` (serialized ModelInferRequests) for LoadGen."""

    def __init__(
        self, port: int, requests: list[bytes], streams: int = STREAMS, depth: int = DEPTH
    ) -> None:
        super().__init__()
        self.frames = [data_frame(r) for r in requests]
        self.conns = [_Conn.open(port) for _ in range(streams)]
        self.depth = depth
        self.backlog: deque[tuple[int, int, int]] = deque()  # (id, generation, index)
        self.schedule = threading.Lock()  # taken before a connection's lock, never after
        self.selector = selectors.DefaultSelector()
        for c in self.conns:
            self.selector.register(c.sock, selectors.EVENT_READ, c)
        self.wake_r, self.wake_w = socket.socketpair()
        self.selector.register(self.wake_r, selectors.EVENT_READ, None)
        self.warm = threading.Semaphore(0)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        for c in self.conns:  # one answered request per stream before the test
            with c.lock:
                c.pending.append((-1, -1))
                c.send(self.frames[0])
        for _ in self.conns:
            if not self.warm.acquire(timeout=30):
                raise RuntimeError(f"no answer on a ModelStreamInfer stream to port {port}")
        if self.errors:
            raise RuntimeError(f"warm-up request failed: {self.first_error}")

    def issue(self, samples: list) -> None:
        generation = self.generation
        with self.schedule:
            for s in samples:
                conn = min(self.conns, key=lambda c: len(c.pending))
                if len(conn.pending) >= self.depth:
                    self.backlog.append((s.id, generation, s.index))
                    continue
                with conn.lock:
                    conn.pending.append((s.id, generation))
                    conn.send(self.frames[s.index])

    def _refill(self, conn: _Conn) -> None:
        """After an answer on ``conn``: send it the oldest waiting sample of the running test."""
        with self.schedule:
            while self.backlog:
                sample_id, generation, index = self.backlog.popleft()
                if generation == self.generation:
                    with conn.lock:
                        conn.pending.append((sample_id, generation))
                        conn.send(self.frames[index])
                    return

    def _read(self) -> None:
        while True:
            for key, _ in self.selector.select():
                if key.data is None:  # woken to stop
                    return
                self._on_readable(key.data)

    def _on_readable(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(1 << 18)
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(conn.sock)
            self._fail(conn, "the server closed the connection")
            return
        buf = conn.inbuf
        buf += data
        at = 0
        while len(buf) - at >= 9:
            size = int.from_bytes(buf[at : at + 3], "big")
            if len(buf) - at < 9 + size:
                break
            kind, flags = buf[at + 3], buf[at + 4]
            stream = int.from_bytes(buf[at + 5 : at + 9], "big") & MAX_WINDOW
            self._on_frame(conn, kind, flags, stream, buf[at + 9 : at + 9 + size])
            at += 9 + size
        del buf[:at]

    def _on_frame(self, conn: _Conn, kind: int, flags: int, stream: int, body: bytearray) -> None:
        if kind == DATA:
            conn.unacked += len(body)
            if flags & PADDED:
                body = body[1 : len(body) - body[0]]
            conn.message += body
            self._answers(conn)
            if conn.unacked >= TOP_UP:
                top_up = struct.pack(">I", conn.unacked)
                conn.unacked = 0
                with conn.lock:
                    conn.sock.sendall(
                        frame(WINDOW_UPDATE, 0, 0, top_up) + frame(WINDOW_UPDATE, 0, STREAM, top_up)
                    )
        elif kind == WINDOW_UPDATE:
            conn.window_update(stream, int.from_bytes(body[:4], "big") & MAX_WINDOW)
        elif kind == SETTINGS and not flags & ACK:
            with conn.lock:
                for i in range(0, len(body) - 5, 6):
                    key, value = struct.unpack(">HI", body[i : i + 6])
                    if key == 0x4:  # the server's INITIAL_WINDOW_SIZE for our stream
                        conn.stream_window += value - DEFAULT_WINDOW
                conn.sock.sendall(frame(SETTINGS, ACK, 0))
                conn.flush_waiting()
        elif kind == PING and not flags & ACK:
            with conn.lock:
                conn.sock.sendall(frame(PING, ACK, 0, bytes(body)))
        elif (kind == HEADERS and flags & END_STREAM) or kind in (RST_STREAM, GOAWAY):
            self._fail(conn, f"the server ended the stream (HTTP/2 frame type {kind})")

    def _answers(self, conn: _Conn) -> None:
        """Complete a sample for every whole gRPC message now in ``conn.message``."""
        msg, at = conn.message, 0
        while len(msg) - at >= 5:
            size = int.from_bytes(msg[at + 1 : at + 5], "big")
            if len(msg) - at < 5 + size:
                break
            answer = bytes(msg[at + 5 : at + 5 + size])
            at += 5 + size
            error = None
            if answer[:1] != b"\x12":
                failed = kserve_pb.ModelStreamInferResponse.FromString(answer)
                error = f"stream error: {failed.error_message}"
            with conn.lock:
                sample = conn.pending.popleft()
            self._complete(sample, error)
            if self.backlog:
                self._refill(conn)
        del msg[:at]

    def _complete(self, sample: tuple[int, int], error: str | None) -> None:
        if sample[0] >= 0:
            self.done(sample, error)
            return
        if error is not None:  # a warm-up request
            self.errors += 1
            self.first_error = self.first_error or error
        self.warm.release()

    def _fail(self, conn: _Conn, why: str) -> None:
        with conn.lock:
            lost, conn.pending = list(conn.pending), deque()
        for sample in lost:
            self._complete(sample, why)

    def close(self) -> None:
        self.wake_w.send(b"x")
        self.reader.join(30)
        for c in self.conns:
            with contextlib.suppress(OSError), c.lock:  # the server may have closed it
                c.sock.sendall(frame(DATA, END_STREAM, STREAM))
            c.sock.close()
        self.wake_r.close()
        self.wake_w.close()
        self.selector.close()
