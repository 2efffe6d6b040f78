"""Raw-socket HTTP helpers for the serving tests (what a hostile client sends)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterable


def raw(url, method, path, body=b"", headers=None, timeout=30):
    """(status, body bytes) of one request over a fresh connection."""
    host, port = url.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def error_of(data: bytes) -> str:
    return json.loads(data)["error"]


def connect(url: str, timeout: float = 30) -> socket.socket:
    host, port = url.split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def send_streaming(url: str, head: bytes, chunks: Iterable[bytes], timeout: float = 60):
    """Send ``head`` then ``chunks`` while reading the reply concurrently (a server may answer
    and close before the body is sent). Returns (status, reply bytes, bytes of body sent)."""
    sock = connect(url, timeout)
    sent = [0]
    reply = bytearray()

    def reader() -> None:
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                reply.extend(data)
        except OSError:
            return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        sock.sendall(head)
        for chunk in chunks:
            if not thread.is_alive() or reply:
                break
            sock.sendall(chunk)
            sent[0] += len(chunk)
    except OSError:
        pass  # the server may close the socket first: that is the answer under test
    thread.join(timeout)
    sock.close()
    status = int(bytes(reply).split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0
    return status, bytes(reply), sent[0]


def reply_body(reply: bytes) -> bytes:
    return reply.split(b"\r\n\r\n", 1)[1]


def time_live(url: str) -> float:
    """Seconds /v2/health/live takes to answer 200 on a fresh connection."""
    t0 = time.perf_counter()
    status, _ = raw(url, "GET", "/v2/health/live", timeout=10)
    assert status == 200
    return time.perf_counter() - t0
