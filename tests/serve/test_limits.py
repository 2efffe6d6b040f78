"""Body, header, time and connection limits over a real socket: hostile or slow clients are
refused or closed, without buffering their bytes and without stalling other clients."""

import json
import threading
import time

import numpy as np
import pytest
from serve_wire import connect, raw, reply_body, send_streaming, time_live

from triptych.serve.app import ServeConfig, create_app
from triptych.serve.server import Limits, serving


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class _PeakRss:
    """Samples this process's RSS every 5 ms (the server runs in-process)."""

    def __enter__(self):
        self.base, self.peak, self.stop = _rss_mb(), 0.0, threading.Event()

        def sample():
            while not self.stop.is_set():
                self.peak = max(self.peak, _rss_mb())
                time.sleep(0.005)

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    @property
    def growth(self) -> float:
        return self.peak - self.base


def test_chunked_400mib_body_is_refused_with_413_without_buffering(big_server):
    url, _, name = big_server
    head = (
        f"POST /v2/models/{name}/infer HTTP/1.1\r\nHost: x\r\n"
        "Inference-Header-Content-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    piece = b"x" * (1 << 20)
    chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
    with _PeakRss() as rss:
        status, reply, sent = send_streaming(url, head, (chunk for _ in range(400)))
    assert status == 413, reply[:300]
    assert "over the limit" in json.loads(reply_body(reply))["error"]
    assert sent < 200 << 20  # the server stopped reading long before 400 MiB
    assert rss.growth < 150, f"server memory grew by {rss.growth:.0f} MB"
    assert time_live(url) < 1.0


def test_declared_content_length_over_the_limit_is_refused_before_reading(big_server):
    url, _, name = big_server
    sock = connect(url, 10)
    sock.sendall(
        f"POST /v2/models/{name}/infer HTTP/1.1\r\nHost: x\r\n"
        f"Inference-Header-Content-Length: 10\r\nContent-Length: {400 << 20}\r\n\r\n".encode()
    )
    reply = sock.recv(65536)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 413") and b"over the limit" in reply


def _json_body(n: int) -> bytes:
    head = b'{"inputs":[{"name":"z","shape":[1,32],"datatype":"FP32","data":['
    return head + b"0.5," * n + b"0.5]}]}"


def test_60mib_json_for_a_1x32_tensor_is_refused_quickly(big_server):
    url, _, name = big_server
    body = _json_body(15_700_000)
    assert len(body) > 59 << 20
    head = (
        f"POST /v2/models/{name}/infer HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    t0 = time.perf_counter()
    step = 1 << 20
    status, reply, _ = send_streaming(
        url, head, (body[i : i + step] for i in range(0, len(body), step))
    )
    assert status == 413 and "binary tensor extension" in json.loads(reply_body(reply))["error"]
    assert time.perf_counter() - t0 < 2.0


def test_json_within_the_limit_but_too_many_elements_is_refused_before_conversion(big_server):
    url, _, name = big_server
    body = _json_body(1_900_000)  # 7.6 MiB of JSON, under the 8 MiB JSON limit
    t0 = time.perf_counter()
    status, data = raw(url, "POST", f"/v2/models/{name}/infer", body)
    assert status == 400 and "1900001 elements" in json.loads(data)["error"]
    assert time.perf_counter() - t0 < 3.0


def test_health_answers_within_1s_while_big_requests_are_in_flight(big_server):
    url, _, name = big_server
    z = np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32)
    json_big = _json_body(1_900_000)
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "z",
                    "shape": [64, 32],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": z.nbytes},
                }
            ]
        }
    ).encode()
    results: list[int] = []

    def big_requests() -> None:
        for _ in range(3):
            results.append(raw(url, "POST", f"/v2/models/{name}/infer", json_big)[0])
            results.append(
                raw(
                    url,
                    "POST",
                    f"/v2/models/{name}/infer",
                    head + z.tobytes(),
                    {"Inference-Header-Content-Length": str(len(head))},
                )[0]
            )

    worker = threading.Thread(target=big_requests)
    worker.start()
    worst = 0.0
    while worker.is_alive():
        worst = max(worst, time_live(url))
        time.sleep(0.01)
    worker.join()
    assert results == [400, 200] * 3
    assert worst < 1.0, f"/v2/health/live took {worst:.2f} s"


@pytest.fixture(scope="module")
def strict_server(repo, onnx_root):
    """Short timeouts and a small connection limit."""
    app = create_app(repo, ServeConfig(body_timeout=1.0))
    limits = Limits(header_timeout=1.0, keep_alive=1, max_connections=8, max_header_bytes=8192)
    with serving(app, limits=limits) as url:
        yield url, f"gan.generator.{onnx_root[1]}"


def _closed_within(sock, seconds: float) -> tuple[bool, bytes]:
    sock.settimeout(seconds)
    got = b""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True, got
            got += data
    except TimeoutError:
        return False, got
    except OSError:
        return True, got


@pytest.mark.parametrize("sent", [b"", b"POST /v2/models/x/infer HTTP/1.1\r\nHost:"])
def test_half_open_and_slow_header_clients_are_closed(strict_server, sent):
    url, _ = strict_server
    sock = connect(url)
    sock.sendall(sent)
    t0 = time.perf_counter()
    closed, _ = _closed_within(sock, 5.0)
    sock.close()
    assert closed and time.perf_counter() - t0 < 4.0


def test_slow_body_gets_408_and_is_closed(strict_server):
    url, name = strict_server
    sock = connect(url)
    sock.sendall(
        f"POST /v2/models/{name}/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
        '{"inputs"'.encode()
    )
    closed, reply = _closed_within(sock, 5.0)
    sock.close()
    assert closed and reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert "no body bytes" in json.loads(reply_body(reply))["error"]


def test_oversized_headers_get_431(strict_server):
    url, _ = strict_server
    sock = connect(url)
    sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n")
    try:
        for i in range(100):
            sock.sendall(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000))
    except OSError:
        pass  # the server may hang up mid-headers: the refusal under test
    closed, reply = _closed_within(sock, 5.0)
    sock.close()
    assert closed and reply.startswith(b"HTTP/1.1 431"), reply[:200]


def test_connection_limit_refuses_then_recovers_when_idle_clients_are_closed(strict_server):
    url, _ = strict_server
    idle = [connect(url) for _ in range(8)]
    time.sleep(0.1)
    try:
        status, _ = raw(url, "GET", "/v2/health/live")
        assert status == 503
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 5
    while raw(url, "GET", "/v2/health/live")[0] != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
