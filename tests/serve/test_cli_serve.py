"""`triptych serve` checks its flags (and that the port is free) before anything starts:
exit 2 with one line on stderr, nothing printed on stdout."""

import os
import socket
import subprocess
import sys
import time

import pytest
from serve_wire import raw

from triptych.cli import main
from triptych.serve.server import free_port


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--port", "0"], "--port must be in 1..65535"),
        (["--port", "70000"], "--port must be in 1..65535"),
        (["--port", "-1"], "--port must be in 1..65535"),
        (["--max-batch", "0"], "--max-batch must be >= 1"),
        (["--max-delay-ms", "-1"], "--max-delay-ms must be"),
        (["--max-delay-ms", "nan"], "--max-delay-ms must be"),
        (["--threads", "0"], "--threads must be >= 1"),
        (["--instances", "0"], "--instances must be >= 1"),
        (["--max-body-mb", "0"], "--max-body-mb must be > 0"),
    ],
)
def test_bad_flags_exit_2_with_one_line(capsys, flags, words):
    assert main(["serve", "no/such/models", *flags]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and words in err


def test_port_in_use_exits_2_with_one_line_before_serving(capsys, onnx_root):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(onnx_root[0]), "--port", str(port)]) == 2
    out, err = capsys.readouterr()
    assert "serving" not in out and len(err.strip().splitlines()) == 1
    assert f"cannot bind 127.0.0.1:{port}" in err


def test_serve_command_starts_and_answers(onnx_root):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "triptych.cli", "serve", str(onnx_root[0]), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                if raw(f"127.0.0.1:{port}", "GET", "/v2/health/live", timeout=2)[0] == 200:
                    break
            except OSError:
                pass  # not listening yet: poll again
            assert time.monotonic() < deadline
            time.sleep(0.2)
        fw = onnx_root[1]
        assert raw(f"127.0.0.1:{port}", "GET", f"/v2/models/gan.generator.{fw}")[0] == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert out.startswith("serving ") and f"on http://127.0.0.1:{port}" in out
