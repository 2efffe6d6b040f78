"""Connection timeouts on both HTTP implementations (httptools and the h11 fallback): a client
that stalls in its request headers is cut off after the header timeout, and one that stops
reading its responses is cut off after the write timeout (its request's buffers freed) while
the server keeps answering everyone else."""

import contextlib
import json
import socket
import threading
import time

import numpy as np
import pytest
from serve_wire import connect, raw

from triptych.serve.app import ServeConfig, create_app
from triptych.serve.server import HAVE_HTTPTOOLS, Limits, serving

HTTPS = ["auto", "h11"] if HAVE_HTTPTOOLS else ["h11"]


def _read_to_end(sock, limit_s):
    """(bytes read until EOF or reset, seconds it took); fails after ``limit_s`` seconds."""
    got, t0 = 0, time.monotonic()
    sock.settimeout(limit_s)
    try:
        while chunk := sock.recv(1 << 16):
            got += len(chunk)
    except ConnectionResetError:
        pass  # an abort: what a write timeout does
    return got, time.monotonic() - t0


@pytest.mark.parametrize("http", HTTPS)
def test_a_client_stalled_in_its_headers_is_cut_off(repo, http):
    with serving(create_app(repo), limits=Limits(header_timeout=0.5, http=http)) as url:
        sock = connect(url, timeout=10)
        sock.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        got, seconds = _read_to_end(sock, 10)
        assert got == 0 and 0.4 < seconds < 5.0
        sock.close()
        assert raw(url, "GET", "/v2/health/ready")[0] == 200


@pytest.mark.parametrize("http", HTTPS)
def test_a_client_that_stops_reading_is_cut_off_after_the_write_timeout(repo, onnx_root, http):
    name = f"gan.generator.{onnx_root[1]}"
    rows, count = 4096, 8  # 8 answers of ~3 MB of JSON each: more than every buffer on the way
    x = np.zeros((rows, 32), np.float32)
    spec = {"name": "z", "shape": [rows, 32], "datatype": "FP32"}
    header = json.dumps({"inputs": [{**spec, "parameters": {"binary_data_size": x.nbytes}}]})
    body = header.encode() + x.tobytes()
    request = (
        f"POST /v2/models/{name}/infer HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
        f"Inference-Header-Content-Length: {len(header)}\r\n\r\n"
    ).encode() + body
    app = create_app(repo, ServeConfig(max_batch=rows))
    limits = Limits(write_timeout=0.5, http=http)
    with serving(app, limits=limits) as url:
        host, port = url.split(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a slow reader's window
        sock.connect((host, int(port)))
        sender = threading.Thread(target=_send_quietly, args=(sock, request * count), daemon=True)
        sender.start()
        time.sleep(2.0)  # not reading: the server's writes stall, then time out
        assert raw(url, "GET", "/v2/health/ready", timeout=5)[0] == 200  # others still served
        got, seconds = _read_to_end(sock, 10)  # what was buffered, then the cut
        assert got < count * rows * 64 * 2  # far from all the answers (~12 bytes a number)
        assert seconds < 5.0
        sock.close()
        sender.join(10)


def _send_quietly(sock, data):
    with contextlib.suppress(OSError):  # the server cut the connection: what is tested
        sock.sendall(data)
