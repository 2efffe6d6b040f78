"""The LoadGen harness's own HTTP/2 client of ModelStreamInfer against the real gRPC server:
every sample is answered once (the ones over the in-flight depth wait and go out as answers
come back), in order on a stream, a faulty request is counted with the server's
message, and requests beyond the server's flow-control window wait for its WINDOW_UPDATE."""

import socket
from types import SimpleNamespace

import numpy as np
import pytest

from triptych.serve.loadgen import paths

pytest.importorskip("mlperf_loadgen", reason="pip install 'triptych[dev]' (mlcommons-loadgen)")
from triptych.serve.loadgen.h2_stream import H2StreamDriver, _Conn, data_frame


class _Recorded(H2StreamDriver):
    """Completions recorded here instead of going to LoadGen (no test is running)."""

    def done(self, sample, error):
        with self.lock:
            self.log.append((sample[0], error))


def _driver(grpc_servers, xs, streams=2):
    _, target, _, name = grpc_servers
    _Recorded.log = []
    requests = paths.grpc_requests(name, "z", xs)
    return _Recorded(int(target.rsplit(":", 1)[1]), requests, streams=streams)


def _wait(driver, count, timeout=30.0):
    import time

    deadline = time.monotonic() + timeout
    while len(driver.log) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(driver.log)


def test_answers_complete_every_sample_once(grpc_servers):
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((1, 32)).astype(np.float32) for _ in range(4)]
    driver = _driver(grpc_servers, xs)
    try:
        driver.issue([SimpleNamespace(id=i, index=i % 4) for i in range(3000)])
        log = _wait(driver, 3000)
    finally:
        driver.close()
    assert sorted(i for i, _ in log) == list(range(3000))
    assert all(error is None for _, error in log)
    assert not driver.backlog  # 3,000 issued at once, at most 2 x 16 in flight at a time


def test_a_faulty_request_is_counted_with_the_server_message(grpc_servers):
    good = np.zeros((1, 32), np.float32)
    bad = np.zeros((1, 31), np.float32)  # the model takes 32 values a row
    driver = _driver(grpc_servers, [good, bad], streams=1)
    try:
        driver.issue([SimpleNamespace(id=i, index=i % 2) for i in range(4)])
        log = _wait(driver, 4)
    finally:
        driver.close()
    assert [i for i, _ in log] == [0, 1, 2, 3]
    assert log[0][1] is None and log[2][1] is None
    assert "stream error" in log[1][1] and "31" in log[1][1]


def test_frames_beyond_the_send_window_wait_for_window_update():
    ours, server = socket.socketpair()
    conn = _Conn(ours)
    frame = data_frame(b"m" * 100)  # 105 bytes of DATA payload
    conn.stream_window = 250
    with conn.lock:
        for _ in range(4):
            conn.send(frame)
    assert conn.held == 2 and len(conn.waiting) == 2 and conn.stream_window == 40
    assert server.recv(4096) == frame * 2  # only what the window allowed went out
    conn.window_update(1, 105)  # one more frame's worth
    assert len(conn.waiting) == 1 and server.recv(4096) == frame
    conn.window_update(0, 10**6)  # the connection's window alone does not free the stream
    assert len(conn.waiting) == 1
    conn.window_update(1, 10**6)
    assert not conn.waiting and server.recv(4096) == frame
    ours.close()
    server.close()
