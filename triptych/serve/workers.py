"""``triptych serve --workers N``: N server processes sharing the HTTP (and gRPC) port with
SO_REUSEPORT (the kernel spreads connections across them), each with its own onnxruntime
sessions and dynamic batcher. onnxruntime intra-op threads default to
``max(1, cores // N)`` per session so the workers do not oversubscribe the cores.

The parent only supervises: SIGINT/SIGTERM are passed on to the workers; a worker that exits
stops the others; and a parent that dies (even by SIGKILL) takes the workers with it
(Linux ``PR_SET_PDEATHSIG``, plus a 1 s watch of the parent pid everywhere).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time

from triptych.serve.launch import ServeSpec, bind, serve_forever

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


def worker_main(spec: ServeSpec, parent: int) -> None:
    """One worker: its own socket on the shared port, its own models and batcher."""
    _die_with_parent(parent)
    sock = bind(spec.host, spec.port, reuse_port=True)
    try:
        serve_forever(spec, sock, reuse_port=True, banner=False)
    finally:
        sock.close()


def run_workers(spec: ServeSpec, workers: int, poll: float = 0.2) -> int:
    """Start ``workers`` processes and supervise them until a signal or a worker's exit;
    0 after SIGINT/SIGTERM, 1 when a worker died on its own. ``poll``: seconds."""
    probe = bind(spec.host, spec.port, reuse_port=True)  # a taken port fails here, at once
    probe.close()
    if spec.grpc_port is not None:
        bind(spec.host, spec.grpc_port, reuse_port=True).close()
    arg = json.dumps(spec.to_dict())
    cmd = [sys.executable, "-m", "triptych.serve.workers", arg, str(os.getpid())]
    procs = [subprocess.Popen(cmd) for _ in range(workers)]
    stopping = threading.Event()

    def forward(signum: int, _frame: object) -> None:
        stopping.set()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    where = f"http://{spec.host}:{spec.port}"
    if spec.grpc_port is not None:
        where += f" and grpc {spec.host}:{spec.grpc_port}"
    print(f"serving {spec.path} on {where} with {workers} workers", flush=True)
    try:
        while not stopping.is_set() and all(p.poll() is None for p in procs):
            time.sleep(poll)
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return 0 if stopping.is_set() else 1


if __name__ == "__main__":
    worker_main(ServeSpec(**json.loads(sys.argv[1])), int(sys.argv[2]))
