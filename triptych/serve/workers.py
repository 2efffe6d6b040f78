"""``triptych serve --workers N``: N server processes sharing the HTTP (and gRPC) port with
SO_REUSEPORT, each with its own onnxruntime sessions and dynamic batcher, supervised by the
parent (`supervisor`).

Each worker listens on a socket of its own in the port's SO_REUSEPORT group: the kernel
spreads new connections evenly over the live workers, and a dead worker's socket leaves the
group, so new connections go to the others while it is replaced (what it had accepted, or
had queued, is lost with it). The parent holds a bound, non-listening socket on each port,
so the port stays the server's between a death and its replacement. One listening socket
shared by every worker (gunicorn's way) was tried first: it never loses a queued
connection, but the workers race for each accept and the winner keeps winning (all 32 of
LoadGen's persistent connections went to one worker, which then served alone on one core).
onnxruntime intra-op threads default to ``max(1, cores // N)`` per session so the workers
do not oversubscribe the cores.

A worker tells the parent it accepts by writing ``"<pid> ready\\n"`` to a pipe; it dies
with the parent (Linux ``PR_SET_PDEATHSIG``, plus a 1 s watch of the parent pid everywhere)
and runs in its own session, so a terminal's Ctrl-C reaches the parent only, which passes
one SIGINT on (two would skip the drain).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time

from triptych.serve.launch import ServeSpec, bind, serve_forever
from triptych.serve.supervisor import RestartPolicy, Supervisor

PR_SET_PDEATHSIG = 1


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_threads(workers: int) -> int:
    """onnxruntime intra-op threads per session for ``workers`` processes: max(1, cores // N)."""
    return max(1, cores() // workers)


def _die_with_parent(parent: int) -> None:
    """SIGTERM this process when ``parent`` goes away."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # no prctl: the watch thread below
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    if os.getppid() != parent:  # died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=watch, daemon=True).start()


def worker_main(spec: ServeSpec, parent: int, notify_fd: int) -> None:
    """One worker: its own sockets on the shared ports, its own models and batcher;
    ``notify_fd``: the pipe to report readiness on."""
    _die_with_parent(parent)
    sock = bind(spec.host, spec.port, reuse_port=True)

    def ready() -> None:
        with contextlib.suppress(OSError):
            os.write(notify_fd, f"{os.getpid()} ready\n".encode())

    try:
        serve_forever(spec, sock, reuse_port=True, banner=False, on_ready=ready)
    finally:
        sock.close()


class Spawner:
    """Starts worker processes of ``spec``; reads their readiness reports (`ready_pids`)."""

    def __init__(self, spec: ServeSpec) -> None:
        self.spec = spec
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self._partial = b""

    def spawn(self) -> subprocess.Popen:
        arg = json.dumps(self.spec.to_dict())
        cmd = [sys.executable, "-m", "triptych.serve.workers", arg, str(os.getpid())]
        cmd.append(str(self.write_fd))
        return subprocess.Popen(cmd, pass_fds=(self.write_fd,), start_new_session=True)

    def ready_pids(self) -> list[int]:
        """Pids that reported ready since the last call (non-blocking)."""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.read_fd, 4096):
                self._partial += chunk
        *lines, self._partial = self._partial.split(b"\n")
        return [int(line.split()[0]) for line in lines if line.strip()]

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


def run_workers(spec: ServeSpec, workers: int, policy: RestartPolicy | None = None) -> int:
    """Serve ``spec`` with ``workers`` supervised processes until SIGINT/SIGTERM (0, after a
    drain of at most ``spec.grace`` seconds), or until workers crash in a loop or fail to
    start (1, with the reason on stderr). ``policy``: when dead workers are replaced."""
    spec = dataclasses.replace(spec, workers=workers)
    holds = [bind(spec.host, spec.port, reuse_port=True)]  # a taken port fails here, at once
    try:
        if spec.grpc_port is not None:
            holds.append(bind(spec.host, spec.grpc_port, reuse_port=True))
        spawner = Spawner(spec)
        where = f"http://{spec.host}:{spec.port}"
        if spec.grpc_port is not None:
            where += f" and grpc {spec.host}:{spec.grpc_port}"
        print(f"serving {spec.path} on {where} with {workers} workers", flush=True)
        policy = policy or RestartPolicy()
        supervisor = Supervisor(spawner, workers, policy, spec.grace)
        try:
            return supervisor.run()
        finally:
            spawner.close()
    finally:
        for sock in holds:
            sock.close()


if __name__ == "__main__":
    worker_main(ServeSpec(**json.loads(sys.argv[1])), *map(int, sys.argv[2:4]))
