"""`triptych serve --grpc-port --workers 2`: two processes share the HTTP port (one listening
socket, held by the parent) and the gRPC port (SO_REUSEPORT), both hold accepted connections
and answer, and SIGKILL of the parent stops both; gRPC/worker flags are checked before
anything starts. Worker faults and drains: `test_supervisor`, `test_drain`."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from serve_wire import raw

from triptych.cli import main
from triptych.serve.server import free_port
from triptych.serve.workers import default_threads

grpcclient = pytest.importorskip("tritonclient.grpc")


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--grpc-port", "0"], "--grpc-port must be in 1..65535"),
        (["--grpc-port", "8000"], "--grpc-port must differ from --port"),
        (["--workers", "0"], "--workers must be >= 1"),
    ],
)
def test_bad_flags_exit_2_with_one_line(capsys, flags, words):
    assert main(["serve", "no/such/models", *flags]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and words in err


def test_grpc_port_in_use_exits_2_before_serving(capsys, onnx_root):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["serve", str(onnx_root[0]), "--port", str(free_port()), "--grpc-port", str(port)]
        assert main(args) == 2
    out, err = capsys.readouterr()
    assert "serving" not in out and f"cannot bind 127.0.0.1:{port}" in err


def test_default_threads_split_the_cores():
    cores = len(os.sched_getaffinity(0))
    assert default_threads(1) == cores
    assert default_threads(2) == max(1, cores // 2)
    assert default_threads(10 * cores) == 1


def _children(pid):
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in "ZX":
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in "ZX"


def _established_on(pid, port):
    """TCP connections in ESTABLISHED state on local ``port`` that ``pid`` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if int(f[1].split(":")[1], 16) == port and f[3] == "01" and f[9] in inodes:
            count += 1
    return count


def _listening_on(port):
    """{pid: command line} of every process holding a TCP socket that listens on ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if int(f[1].split(":")[-1], 16) == port and f[3] == "0A":
                inodes.add(f[9])
    holders = {}
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            target = os.readlink(fd)
            if target.startswith("socket:[") and target[8:-1] in inodes:
                pid = int(fd.parent.parent.name)
                holders[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
    return holders


def _wait_live(url, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, proc.stderr.read()
        try:
            if raw(url, "GET", "/v2/health/ready", timeout=2)[0] == 200:
                return
        except OSError:
            pass  # not listening yet: poll again
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.2)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT, /proc: Linux")
def test_two_workers_answer_and_die_with_the_parent(onnx_root):
    port, gport = free_port(), free_port()
    root, fw = onnx_root
    cmd = [sys.executable, "-m", "triptych.cli", "serve", str(root), "--port", str(port)]
    cmd += ["--grpc-port", str(gport), "--workers", "2"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    url, name = f"127.0.0.1:{port}", f"gan.generator.{fw}"
    kids = []
    try:
        _wait_live(url, proc)
        deadline = time.monotonic() + 60
        while len(kids := _children(proc.pid)) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert len(kids) == 2
        # many connections held open: the kernel spreads them over both workers
        conns = []
        deadline = time.monotonic() + 60
        while not all(_established_on(k, port) for k in kids):
            assert time.monotonic() < deadline, "one worker never accepted a connection"
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
            conns.append(s)
        x = np.zeros((2, 32), np.float32)
        for _ in range(4):  # gRPC on fresh channels answers too
            client = grpcclient.InferenceServerClient(f"127.0.0.1:{gport}")
            inp = grpcclient.InferInput("z", [2, 32], "FP32")
            inp.set_data_from_numpy(x)
            assert client.infer(name, [inp]).as_numpy("y").shape[0] == 2
            client.close()
        for s in conns:
            s.close()
        listening = {p for p, c in _listening_on(port).items() if str(root).encode() in c}
        assert listening == set(kids)  # the probe used below sees this server's listeners
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 30
        while any(_alive(k) for k in kids):
            assert time.monotonic() < deadline, "workers outlived the parent"
            time.sleep(0.2)
        # nothing of this server listens any more (a connect() probe is not the test: under
        # xdist another test's server may share an SO_REUSEPORT port, so the holders are
        # named and only this server's, by its model folder, count)
        ours = {p: c for p, c in _listening_on(port).items() if str(root).encode() in c}
        assert not ours, f"port {port} still listened on after the parent died: {ours}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for k in kids:
            if _alive(k):
                os.kill(k, signal.SIGKILL)
    out = proc.stdout.read()
    assert "with 2 workers" in out and f"grpc 127.0.0.1:{gport}" in out


def test_serve_command_with_grpc_answers_and_stops_on_sigterm(onnx_root):
    port, gport = free_port(), free_port()
    root, fw = onnx_root
    cmd = [sys.executable, "-m", "triptych.cli", "serve", str(root), "--port", str(port)]
    cmd += ["--grpc-port", str(gport)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        _wait_live(f"127.0.0.1:{port}", proc)
        client = grpcclient.InferenceServerClient(f"127.0.0.1:{gport}")
        assert client.is_server_live() and client.is_model_ready(f"gan.generator.{fw}")
        client.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it caught
    finally:
        if proc.poll() is None:
            proc.kill()
    out = proc.stdout.read()
    assert f"on http://127.0.0.1:{port} and grpc 127.0.0.1:{gport}" in out
