"""``python -m triptych.serve.loadgen.faults [--out FILE]``: `triptych serve` under faults,
measured with real processes, sockets and signals (the GAN generator, HTTP JSON at batch 1):

- ``kill``: ``--workers 2`` under a steady closed-loop load (``threads`` clients, one
  persistent connection each, reopened after a failure); SIGKILL of one worker, ``rounds``
  times: seconds from the kill to the replacement's "ready" log line, requests that failed,
  requests answered between the kill and the replacement, and after it;
- ``drain``: ``--workers 2`` under the same load plus ``held`` requests whose bodies are
  half sent when SIGTERM arrives (then completed): how many of those are answered, how the
  load's requests ended, seconds from the signal to the server's exit;
- ``streams``: 20 idle ModelStreamInfer streams (each its own connection), then a new
  stream client: seconds until it is answered.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from triptych.model import create
from triptych.serve.server import free_port

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


class Proc:
    """`triptych serve` in a child process; ``lines``: (monotonic time, stderr line)."""

    def __init__(self, model: Path, *flags: str) -> None:
        self.port, self.gport = free_port(), free_port()
        cmd = [sys.executable, "-m", "triptych.cli", "serve", str(model)]
        cmd += ["--port", str(self.port), "--grpc-port", str(self.gport), *flags]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, text=True
        )
        self.lines: list[tuple[float, str]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:  # type: ignore[union-attr]
            self.lines.append((time.monotonic(), line.rstrip()))

    def wait_line(self, words: str, after: float = 0.0, timeout: float = 120.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, line in list(self.lines):
                if t >= after and words in line:
                    return t
            time.sleep(0.01)
        raise RuntimeError(f"no {words!r} in the server's log")

    def workers(self) -> list[int]:
        kids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.proc.pid and fields[0] not in "ZX":
                    kids.append(int(stat.parent.name))
        return sorted(kids)

    def close(self) -> None:
        for pid in [*self.workers(), self.proc.pid]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(30)


def _body(rows: int = 1) -> bytes:
    x = np.random.default_rng(0).standard_normal((rows, 32)).astype(np.float32)
    spec = {"name": "z", "shape": [rows, 32], "datatype": "FP32", "data": x.ravel().tolist()}
    return json.dumps({"inputs": [spec]}).encode()


class Load:
    """Closed-loop clients; ``results``: (start, end, outcome) with outcome "ok", "http <n>"
    or the exception's name."""

    def __init__(self, port: int, path: str, threads: int) -> None:
        self.port, self.path, self.body = port, path, _body()
        self.results: list[tuple[float, float, str]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self) -> None:
        conn = None
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("POST", self.path, body=self.body)
                resp = conn.getresponse()
                resp.read()
                outcome = "ok" if resp.status == 200 else f"http {resp.status}"
            except (OSError, http.client.HTTPException) as e:
                conn, outcome = None, type(e).__name__
                time.sleep(0.01)
            self.results.append((t0, time.monotonic(), outcome))

    def finish(self) -> list[tuple[float, float, str]]:
        self.stop.set()
        for t in self.threads:
            t.join(30)
        return self.results


def _count(results: list[tuple[float, float, str]], lo: float, hi: float) -> dict[str, int]:
    out: dict[str, int] = {}
    for start, _, outcome in results:
        if lo <= start < hi:
            out[outcome] = out.get(outcome, 0) + 1
    return out


def kill_rounds(model: Path, rounds: int, threads: int) -> list[dict[str, Any]]:
    server = Proc(model, "--workers", "2")
    out = []
    try:
        server.wait_line("worker 2 (pid", timeout=120)
        t = server.wait_line(") ready")
        server.wait_line(") ready", after=t + 1e-6)
        load = Load(server.port, f"/v2/models/{model.stem}/infer", threads)
        time.sleep(3.0)
        for i in range(rounds):
            victim = server.workers()[i % 2]
            t_kill = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            t_ready = server.wait_line(") ready", after=t_kill)
            time.sleep(3.0)
            out.append({"victim": victim, "t_kill": t_kill, "t_ready": t_ready})
        results = load.finish()
        end = time.monotonic()
        for r in out:
            before = _count(results, r["t_kill"] - 3.0, r["t_kill"])
            r.update(
                replaced_s=r["t_ready"] - r["t_kill"],
                failed=sum(
                    v
                    for k, v in _count(results, r["t_kill"] - 1.0, r["t_ready"] + 1.0).items()
                    if k != "ok"
                ),
                before_3s=before,
                during=_count(results, r["t_kill"], r["t_ready"]),
                after_3s=_count(results, r["t_ready"], min(r["t_ready"] + 3.0, end)),
            )
        return out
    finally:
        server.close()


def drain(model: Path, threads: int, held: int) -> dict[str, Any]:
    server = Proc(model, "--workers", "2")
    try:
        t = server.wait_line(") ready", timeout=120)
        server.wait_line(") ready", after=t + 1e-6)
        load = Load(server.port, f"/v2/models/{model.stem}/infer", threads)
        body = _body(4)
        head = (
            f"POST /v2/models/{model.stem}/infer HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        socks = []
        for _ in range(held):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            s.sendall(head + body[: len(body) // 2])
            socks.append(s)
        time.sleep(2.0)
        t_sig = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        answered = 0
        for s in socks:
            s.sendall(body[len(body) // 2 :])
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
            answered += reply.startswith(b"HTTP/1.1 200")
            s.close()
        code = server.proc.wait(60)
        exited = time.monotonic() - t_sig
        results = load.finish()
        return {
            "held": held,
            "held_answered": answered,
            "exit_code": code,
            "exit_s": exited,
            "load_before_signal": _count(results, 0, t_sig),
            "load_after_signal": _count(results, t_sig, float("inf")),
        }
    finally:
        server.close()


def idle_streams(model: Path, idle: int) -> dict[str, Any]:
    import tritonclient.grpc as grpcclient  # the dev extra, like the tests

    server = Proc(model)
    clients = []
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError, http.client.HTTPException):
                c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
                c.request("GET", "/v2/health/ready")
                if c.getresponse().status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.1)
        x = np.zeros((1, 32), np.float32)

        def ask(client: Any, answers: queue.SimpleQueue) -> Any:
            inp = grpcclient.InferInput("z", [1, 32], "FP32")
            inp.set_data_from_numpy(x)
            try:
                client.async_stream_infer(model.stem, [inp])
            except Exception as e:  # refused at its start: the stream is invalid already
                return e
            return answers.get(timeout=30)[1]

        def open_client() -> tuple[Any, queue.SimpleQueue]:
            client = grpcclient.InferenceServerClient(
                f"127.0.0.1:{server.gport}", channel_args=[("grpc.use_local_subchannel_pool", 1)]
            )
            answers: queue.SimpleQueue = queue.SimpleQueue()
            client.start_stream(callback=lambda result, error: answers.put((result, error)))
            clients.append(client)
            return client, answers

        served = sum(ask(*open_client()) is None for _ in range(idle))
        time.sleep(1.5)
        t0 = time.monotonic()
        error = ask(*open_client())
        return {
            "idle": idle,
            "idle_served": served,
            "new_client_error": None if error is None else str(error),
            "new_client_s": time.monotonic() - t0,
        }
    finally:
        for c in clients:
            with contextlib.suppress(Exception):
                c.stop_stream()
                c.close()
        server.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="benchmarks/loadgen/faults.json", help="result file")
    p.add_argument("--rounds", type=int, default=3, help="SIGKILLs (3)")
    p.add_argument("--threads", type=int, default=8, help="load clients (8)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        model = create("gan", framework="torch").export_onnx(
            tmp, networks=["generator"], exporter="torchscript"
        )["generator"]
        out = {
            "kill": kill_rounds(model, args.rounds, args.threads),
            "drain": drain(model, args.threads, held=8),
            "streams": idle_streams(model, 20),
            "threads": args.threads,
        }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
