"""Graceful drain with real signals: SIGTERM (and SIGINT) stop accepting and answer every
request already received, with one worker process and with ``--workers 2``; a second signal
exits at once."""

import signal
import socket
import sys
import time

import pytest
from serve_procs import Served, infer_body, serve_cmd
from serve_wire import reply_body

from triptych.serve.server import free_port

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals, /proc")


def _half_sent(port, path, body, n):
    """``n`` connections, each accepted by a worker (it answered a first request) and now in
    the middle of a request: headers and half the body sent."""
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        s.sendall(head + body[: len(body) // 2])
        conns.append(s)
    return conns


def _read_reply(s):
    reply = b""
    while chunk := s.recv(65536):
        reply += chunk
    return reply


def _refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


@pytest.mark.parametrize(
    "workers, sig", [(1, signal.SIGTERM), (2, signal.SIGTERM), (2, signal.SIGINT)]
)
def test_a_signal_answers_every_request_already_received(onnx_root, workers, sig):
    root, fw = onnx_root
    port = free_port()
    server = Served(serve_cmd(root, port, "--workers", str(workers)), port)
    try:
        server.wait_ready()
        if workers > 1:
            t = server.wait_line("ready")
            server.wait_line("ready", after=t + 1e-6)
        body = infer_body(rows=4)
        conns = _half_sent(port, f"/v2/models/gan.generator.{fw}/infer", body, 6)
        time.sleep(0.3)  # the workers have read the headers
        server.proc.send_signal(sig)
        deadline = time.monotonic() + 10
        while not _refused(port):  # it stops accepting new connections
            assert time.monotonic() < deadline, "still accepting after the signal"
            time.sleep(0.05)
        assert server.proc.poll() is None  # and waits for the requests it holds
        for s in conns:
            s.sendall(body[len(body) // 2 :])
        replies = [_read_reply(s) for s in conns]  # each answered, then closed (EOF)
        assert all(r.startswith(b"HTTP/1.1 200") for r in replies), replies
        assert all(b'"shape":[4,' in reply_body(r) for r in replies)
        assert server.proc.wait(20) in (0, -sig)
    finally:
        server.stop()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_second_signal_exits_at_once(onnx_root, workers):
    root, fw = onnx_root
    port = free_port()
    server = Served(serve_cmd(root, port, "--workers", str(workers)), port)
    try:
        server.wait_ready()
        body = infer_body()
        conns = _half_sent(port, f"/v2/models/gan.generator.{fw}/infer", body, 2 * workers)
        time.sleep(0.3)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert server.proc.poll() is None  # draining: a half-sent request holds it (30 s grace)
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(5) == 128 + signal.SIGTERM
        assert time.monotonic() - t0 < 3.0
        deadline = time.monotonic() + 5
        while server.children() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not server.children()
        for s in conns:
            s.close()
    finally:
        server.stop()
