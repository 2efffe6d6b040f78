"""A bounded load test of `triptych serve` on loopback: N requests at concurrency C from
persistent HTTP connections, the server in its own process. Records throughput, p50/p90/p99
latency and errors, with dynamic batching off (``--no-batching``) and on (the default).

    python -m triptych.serve.loadtest --requests 20000 --concurrency 16 --out benchmarks
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from triptych.frameworks.base import available
from triptych.model import create
from triptych.serve.server import free_port


def _wait_live(port: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/v2/health/live")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not become live")


def run_load(port: int, model: str, body: bytes, requests: int, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    per_worker = [
        requests // concurrency + (i < requests % concurrency) for i in range(concurrency)
    ]

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        bad = 0
        for _ in range(n):
            t0 = time.perf_counter()
            conn.request("POST", f"/v2/models/{model}/infer", body=body)
            resp = conn.getresponse()
            resp.read()
            mine.append(time.perf_counter() - t0)
            bad += resp.status != 200
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=worker, args=(n,)) for n in per_worker]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": errors[0],
        "concurrency": concurrency,
        "seconds": wall,
        "throughput_rps": len(latencies) / wall,
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--out", default="benchmarks")
    args = p.parse_args(argv)
    fw = available()[0]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = create("gan", framework=fw).export_onnx(tmp, networks=["generator"])["generator"]
        z = np.random.default_rng(0).standard_normal((1, 32)).astype(np.float32)
        body = json.dumps(
            {
                "inputs": [
                    {"name": "z", "shape": [1, 32], "datatype": "FP32", "data": z.ravel().tolist()}
                ]
            }
        ).encode()
        for batching in (False, True):
            port = free_port()
            cmd = [
                sys.executable,
                "-m",
                "triptych.cli",
                "serve",
                str(path),
                "--port",
                str(port),
                "--threads",
                "1",
                *([] if batching else ["--no-batching"]),
            ]
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            )
            try:
                _wait_live(port, proc)
                run_load(port, path.stem, body, 500, args.concurrency)  # warm-up
                r = run_load(port, path.stem, body, args.requests, args.concurrency)
            finally:
                proc.terminate()
                proc.wait(30)
            r.update(model=path.stem, dynamic_batching=batching)
            results.append(r)
            print(json.dumps(r))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "serving.json").write_text(json.dumps(results, indent=2))
    lines = [
        "# Serving load test",
        "",
        f"`python -m triptych.serve.loadtest --requests {args.requests} --concurrency "
        f"{args.concurrency}`: the GAN generator (batch 1 per request, JSON), "
        "`triptych serve` in its own process (onnxruntime 1 intra-op thread), the client "
        "in another with persistent HTTP/1.1 connections, loopback, 2 CPU cores shared "
        "by both.",
        "",
        "| dynamic batching | requests | errors | throughput (req/s) | p50 ms | p90 ms | p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        mode = "on (Triton-style)" if r["dynamic_batching"] else "off"
        lines.append(
            f"| {mode} | {r['requests']} | {r['errors']} | "
            f"{r['throughput_rps']:.0f} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | "
            f"{r['p99_ms']:.2f} |"
        )
    (out / "serving.md").write_text("\n".join(lines) + "\n")
    return 0 if all(r["errors"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
