"""``python -m triptych.serve.loadgen.soak [--minutes 10] [--fraction 0.7]``: a long LoadGen
Server-scenario run against `triptych serve --workers 2` (HTTP binary tensors, the GAN
generator at batch 1), at a fraction of the highest target QPS that a short bisection finds
VALID on the same server just before. Resident memory (RSS) and open file descriptors of
every server process are read at the start of the long run (after the bisection warmed the
server up), every ``--every`` seconds during it, and at its end; the result goes to
``--out`` (JSON) for `faults_report`."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from triptych.serve.loadgen import bench, paths
from triptych.serve.loadgen.drivers import HttpDriver
from triptych.serve.loadgen.harness import max_valid_qps, offline, run_once


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (Linux /proc; 0 when gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def open_fds(pid: int) -> int:
    """Open file descriptors of ``pid`` (0 when gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def snapshot(pids: list[int], t0: float) -> dict[str, Any]:
    """RSS (KiB) and open fds per pid, ``t`` seconds since ``t0``."""
    return {
        "t": round(time.monotonic() - t0, 1),
        "rss_kib": {str(p): rss_kib(p) for p in pids},
        "fds": {str(p): open_fds(p) for p in pids},
    }


def soak(minutes: float, fraction: float, every: float, latency_ms: float) -> dict[str, Any]:
    """The measurement (see the module docstring); numbers in the returned dict."""
    budget = bench.Budget()
    with tempfile.TemporaryDirectory() as tmp:
        gan, _ = bench.export_targets(Path(tmp), 200.0)
        xs = bench._samples(gan, budget.samples)
        requests = paths.http_requests(gan.path.stem, gan.input_name, xs, binary=True)
        with bench.server(gan.path, "--workers", "2") as (port, _gport, pids):
            driver = HttpDriver(port, requests, budget.concurrency)
            try:
                off = offline(driver, budget.samples, 500.0, budget.min_duration_ms, pids)
            finally:
                driver.close()
            driver = HttpDriver(port, requests, budget.server_threads)
            try:
                best, _ = max_valid_qps(
                    driver, budget.samples, off.achieved * 1.1, latency_ms,
                    budget.min_duration_ms, pids, steps=5,
                )  # fmt: skip
                max_qps = best.qps if best else 0.0
                target = fraction * max_qps
                t0 = time.monotonic()
                samples = [snapshot(pids, t0)]
                stop = threading.Event()

                def sample() -> None:
                    while not stop.wait(every):
                        samples.append(snapshot(pids, t0))

                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
                result = run_once(
                    driver, budget.samples, "Server", target, latency_ms,
                    int(minutes * 60_000), pids,
                )  # fmt: skip
                stop.set()
                sampler.join(every + 5)
                samples.append(snapshot(pids, t0))
            finally:
                driver.close()
    return {
        "model": gan.label,
        "path": "HTTP binary, --workers 2",
        "latency_ms": latency_ms,
        "offline_samples_per_s": off.achieved,
        "max_valid_qps": max_qps,
        "fraction": fraction,
        "target_qps": target,
        "valid": result.valid,
        "achieved_qps": result.achieved,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "queries": result.queries,
        "errors": result.errors,
        "seconds": samples[-1]["t"],
        "server_cpu_us": result.server_cpu_us,
        "stolen_pct": result.stolen_pct,
        "pids": pids,
        "samples": samples,
        "summary": result.summary,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--minutes", type=float, default=10.0, help="length of the run (10)")
    p.add_argument("--fraction", type=float, default=0.7, help="of the max VALID QPS (0.7)")
    p.add_argument("--every", type=float, default=30.0, help="seconds between samples (30)")
    p.add_argument("--latency-ms", type=float, default=20.0, help="p99 bound, ms (20)")
    p.add_argument("--out", default="benchmarks/loadgen/soak.json", help="result file")
    args = p.parse_args(argv)
    out = soak(args.minutes, args.fraction, args.every, args.latency_ms)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print({k: v for k, v in out.items() if k not in ("samples", "summary")})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
