"""`triptych serve` in a real child process for the fault tests: start it, read its log lines
as they come (with their arrival times), find its workers, load it from client threads."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


class Served:
    """A server process started from ``cmd``; ``lines``: (monotonic time, stderr line)."""

    def __init__(self, cmd: list[str], port: int) -> None:
        self.port = port
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, text=True
        )
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def log(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def wait_line(self, words: str, timeout: float = 60.0, after: float = 0.0) -> float:
        """The arrival time of the first line containing ``words`` (seen after ``after``)."""
        deadline = time.monotonic() + timeout
        while True:
            for t, line in list(self.lines):
                if t >= after and words in line:
                    return t
            assert self.proc.poll() is None or time.monotonic() < deadline, self.log()
            assert time.monotonic() < deadline, f"no {words!r} in:\n{self.log()}"
            time.sleep(0.02)

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, self.log()
            try:
                if get(self.port, "/v2/health/ready")[0] == 200:
                    return
            except OSError:
                pass  # not listening yet
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)

    def children(self) -> list[int]:
        return children(self.proc.pid)

    def stop(self) -> None:
        for pid in [*self.children(), self.proc.pid]:
            with contextlib.suppress(OSError):  # gone already
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(30)
        self._reader.join(5)


def serve_cmd(root: Path, port: int, *flags: str) -> list[str]:
    return [sys.executable, "-m", "triptych.cli", "serve", str(root), "--port", str(port), *flags]


def children(pid: int) -> list[int]:
    """Live child pids of ``pid`` (Linux /proc)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in "ZX":
            kids.append(int(stat.parent.name))
    return kids


def get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def infer_body(rows: int = 1, width: int = 32, seed: int = 0) -> bytes:
    x = np.random.default_rng(seed).standard_normal((rows, width)).astype(np.float32)
    spec = {"name": "z", "shape": [rows, width], "datatype": "FP32", "data": x.ravel().tolist()}
    return json.dumps({"inputs": [spec]}).encode()


@dataclass
class Load:
    """``threads`` clients, each with one persistent connection (reopened after a failure),
    sending ``body`` to ``path`` back to back until `stop`; ``results``: (start, end, ok)."""

    port: int
    path: str
    body: bytes
    threads: int = 4
    results: list[tuple[float, float, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._workers = [
            threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)
        ]
        for t in self._workers:
            t.start()

    def _run(self) -> None:
        conn = None
        while not self._stop.is_set():
            t0 = time.monotonic()
            ok = False
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("POST", self.path, body=self.body)
                resp = conn.getresponse()
                ok = resp.status == 200 and b'"outputs"' in resp.read()
            except (OSError, http.client.HTTPException):
                conn = None
                time.sleep(0.01)  # refused while nobody listens: do not spin
            self.results.append((t0, time.monotonic(), ok))

    def stop(self) -> list[tuple[float, float, bool]]:
        self._stop.set()
        for t in self._workers:
            t.join(30)
        return list(self.results)
