"""One full harness run: export the models, start `triptych serve` processes (HTTP + gRPC,
loopback), run LoadGen Offline and Server (bisection) on every path, then the dynamic batching
and ``--workers`` comparisons on the compute-heavy model. Every number comes from LoadGen."""

from __future__ import annotations

import contextlib
import http.client
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from triptych.common.zoo import names as zoo_names
from triptych.export.ort import make_session
from triptych.model import create
from triptych.serve import kserve_pb
from triptych.serve.loadgen import grpc_floor as grpc_floor_server
from triptych.serve.loadgen import paths
from triptych.serve.loadgen.drivers import GrpcDriver, HttpDriver
from triptych.serve.loadgen.h2_stream import H2StreamDriver
from triptych.serve.loadgen.harness import Driver, TestResult, max_valid_qps, offline
from triptych.serve.server import free_port


@dataclass(frozen=True)
class Budget:
    """Bounds of a run: ``min_duration_ms`` per LoadGen test, ``steps`` of bisection,
    ``samples`` in the QSL, ``concurrency`` (client threads for Offline over the servers),
    ``server_threads`` (client threads for the Server scenario), ``heavy_steps`` (bisection
    steps on the compute-heavy model, whose Server tests last 15-30 s each)."""

    min_duration_ms: int = 2500
    steps: int = 5
    heavy_steps: int = 3
    samples: int = 64
    concurrency: int = 16
    server_threads: int = 32


@dataclass
class Target:
    """A model to load: ``label`` for the table, ``path`` of its .onnx, ``latency_ms`` bound
    of its Server scenario, ``input_name``, one sample's ``shape`` (batch 1)."""

    label: str
    path: Path
    latency_ms: float
    input_name: str
    shape: tuple[int, ...]


def export_targets(tmp: Path, heavy_latency_ms: float) -> tuple[Target, Target]:
    """(the GAN generator, the compute-heavy model: resnet18 when the zoo has it, else the
    classifier at 3x64x64), exported with the TorchScript exporter."""
    gan = create("gan", framework="torch").export_onnx(
        tmp, networks=["generator"], exporter="torchscript"
    )["generator"]
    if "resnet18" in zoo_names():
        heavy_model, label = create("resnet18", framework="torch"), "resnet18"
    else:
        heavy_model = create("classifier", framework="torch", image_shape=(3, 64, 64))
        label = "classifier 3x64x64"
    heavy = next(iter(heavy_model.export_onnx(tmp, exporter="torchscript").values()))
    out = []
    for lab, p, lat in (
        (f"GAN generator ({gan.stem})", gan, 20.0),
        (label, heavy, heavy_latency_ms),
    ):
        session = make_session(p, threads=1)
        i = session.get_inputs()[0]
        out.append(Target(lab, p, lat, i.name, (1, *[int(d) for d in i.shape[1:]])))
    return out[0], out[1]


def server_session(path: Path) -> Any:
    """An onnxruntime session with the options `triptych serve` gives its own (the ceiling
    runs the same session configuration, just without the server)."""
    return make_session(path, provider="auto", spinning=False)


def ort_batch_rates(
    target: Target, batches: tuple[int, ...] = (1, 8, 32), seconds: float = 3.0, rounds: int = 2
) -> dict[str, float]:
    """In-process samples/s of ``target`` at each batch size (one caller thread, the server's
    session options), the best of ``rounds`` interleaved runs of ``seconds`` each: what
    merging requests can gain at most on this machine."""
    session = server_session(target.path)
    rng = np.random.default_rng(0)
    best = dict.fromkeys((str(b) for b in batches), 0.0)
    for _ in range(rounds):
        for b in batches:
            x = rng.standard_normal((b, *target.shape[1:])).astype(np.float32)
            session.run(None, {target.input_name: x})
            n, t0 = 0, time.perf_counter()
            while (dt := time.perf_counter() - t0) < seconds:
                session.run(None, {target.input_name: x})
                n += 1
            best[str(b)] = max(best[str(b)], n * b / dt)
    return best


@contextlib.contextmanager
def server(
    model: Path, *flags: str, timeout: float = 180.0
) -> Iterator[tuple[int, int, list[int]]]:
    """`triptych serve model --grpc-port ... flags` in its own process group; yields (HTTP
    port, gRPC port, pids of the serving processes)."""
    port, gport = free_port(), free_port()
    cmd = [sys.executable, "-m", "triptych.cli", "serve", str(model), "--port", str(port)]
    cmd += ["--grpc-port", str(gport), *flags]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready")
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/v2/health/ready")
                if conn.getresponse().status == 200:
                    break
            time.sleep(0.2)
        time.sleep(1.0)  # workers: let every process finish loading
        yield port, gport, [proc.pid, *_children(proc.pid)]
    finally:
        grpc_floor_server.stop(proc)


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(stat.parent.name))
    return kids


def _samples(target: Target, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal(target.shape).astype(np.float32) for _ in range(n)]


def _driver(
    path: str, target: Target, xs: list[np.ndarray], port: int, gport: int, concurrency: int
) -> Any:
    """The LoadGen client of ``path`` with ``concurrency`` queries in flight at most: threads
    calling ``session.run`` for in-process ORT, event-driven clients for the servers."""
    name = target.path.stem
    if path == "ort":
        call = paths.ort_call_factory(server_session(target.path), target.input_name, xs)
        return Driver(call, concurrency)
    if path == "grpc":
        return GrpcDriver(gport, paths.grpc_requests(name, target.input_name, xs), concurrency)
    if path == "grpc_stream":  # in flight: at most h2_stream.DEPTH per stream
        return H2StreamDriver(gport, paths.grpc_requests(name, target.input_name, xs))
    binary = path == "http_binary"
    requests = paths.http_requests(name, target.input_name, xs, binary)
    return HttpDriver(port, requests, concurrency)


def measure_path(
    path: str,
    target: Target,
    budget: Budget,
    port: int = 0,
    gport: int = 0,
    pids=(),
    steps: int | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Offline samples/s and the Server max VALID QPS (``steps`` of bisection, default
    ``budget.steps``) of one path on one model; ``workers``: the server's process count (for
    the row's label only)."""
    xs = _samples(target, budget.samples)
    cores = len(os.sched_getaffinity(0))
    threads = cores if path == "ort" else budget.concurrency
    driver = _driver(path, target, xs, port, gport, threads)
    try:
        off = offline(driver, budget.samples, 500.0, budget.min_duration_ms, list(pids))
    finally:
        driver.close()
    server_threads = cores if path == "ort" else budget.server_threads
    driver = _driver(path, target, xs, port, gport, server_threads)
    try:
        best, worst = max_valid_qps(
            driver,
            budget.samples,
            max(off.achieved, 1.0) * 1.1,
            target.latency_ms,
            budget.min_duration_ms,
            list(pids),
            steps or budget.steps,
        )
    finally:
        driver.close()
    return {
        "path": path,
        "workers": workers,
        "offline": off,
        "server_best": best,
        "server_worst": worst,
    }


def offline_only(
    path: str, target: Target, budget: Budget, concurrency: int, port: int, gport: int, pids
) -> TestResult:
    """Offline samples/s of one path at a given client concurrency."""
    xs = _samples(target, budget.samples)
    driver = _driver(path, target, xs, port, gport, concurrency)
    try:
        return offline(driver, budget.samples, 100.0, budget.min_duration_ms, list(pids))
    finally:
        driver.close()


def grpc_floor(
    target: Target, budget: Budget, gport: int, tmp: Path, steps: int | None = None
) -> list[dict[str, Any]]:
    """Offline samples/s and Server max VALID QPS of the gRPC clients (calls, then streams)
    against `grpc_floor`'s echo server (grpcio alone, no model), answering with a real
    response of the server on ``gport``: rows ``grpc_floor`` and ``grpc_stream_floor``."""
    xs = _samples(target, budget.samples)
    request = paths.grpc_requests(target.path.stem, target.input_name, xs[:1])[0]
    with grpc.insecure_channel(f"127.0.0.1:{gport}") as channel:
        response = channel.unary_unary(f"/{kserve_pb.SERVICE}/ModelInfer")(request, timeout=30)
    port = free_port()
    rows = []
    with grpc_floor_server.running(port, response, tmp) as pid:
        for path in paths.GRPC_PATHS:
            row = measure_path(path, target, budget, 0, port, [pid], steps)
            row["path"] = f"{path}_floor"
            rows.append(row)
    return rows
