"""``python -m triptych.serve.loadgen [--out benchmarks/loadgen] [--smoke]``: the whole
LoadGen comparison (see `bench`), written to ``--out``. ``--smoke``: tiny counts, the GAN
generator only, seconds instead of minutes (for tests)."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from triptych.serve.loadgen import batching, bench, report
from triptych.serve.loadgen.paths import GRPC_PATHS, LABELS, PATHS


def _targets(models: list[dict[str, Any]], results: dict[str, Any]) -> list[str]:
    out = []
    gan_rows = models[0]["paths"]
    gan = {r["path"]: r for r in gan_rows}
    ort = gan["ort"]["offline"].achieved

    def holds(ok: bool) -> str:
        return "HOLDS" if ok else "does NOT hold"

    for wanted, limit in ((("http_json",), 5), (("http_binary",), 3), (GRPC_PATHS, 3)):
        row = _best(gan_rows, wanted, lambda r: r["offline"].achieved)
        ratio = ort / max(row["offline"].achieved, 1e-9)
        out.append(
            f"Offline {_kind(wanted)} within {limit}x of in-process ORT on the GAN "
            f"generator: {ratio:.2f}x slower{_with(row)} -> {holds(ratio <= limit)}"
        )
    for path in GRPC_PATHS:
        floor = gan.get(f"{path}_floor")
        if floor:
            ratio = ort / max(floor["offline"].achieved, 1e-9)
            best = floor["server_best"]
            out.append(
                f"(Floor of {LABELS[path]}: grpcio alone, answering every message with a stored "
                f"response and running no model, serves {floor['offline'].achieved:,.0f} "
                f"samples/s Offline to the same client, {ratio:.2f}x slower than in-process "
                f"ORT, and is VALID in the Server scenario up to "
                f"{best.qps if best else 0:,.0f} QPS)"
            )
    for wanted, qps in ((("http_json",), 1000), (GRPC_PATHS, 2000)):
        row = _best(gan_rows, wanted, lambda r: r["server_best"].qps if r["server_best"] else 0.0)
        got = row["server_best"].qps if row["server_best"] else 0.0
        out.append(
            f"Server VALID at >= {qps:,} QPS over {_kind(wanted)} (GAN, p99 <= 20 ms): "
            f"max VALID {got:,.0f}{_with(row)} -> {holds(got >= qps)}"
        )
    b = results.get("batching")
    if b:
        s32, s1 = batching.summary(b, "32"), batching.summary(b, "1")
        out.append(
            f"Dynamic batching >= 2x no batching on {b['label']} at concurrency 32: "
            f"{s32['ratio']:.2f}x (median of {b['rounds']} interleaved rounds, "
            f"{s32['ratio_min']:.2f}-{s32['ratio_max']:.2f}) -> {holds(s32['ratio'] >= 2)}"
        )
        ok = s1["ratio"] >= 0.95 and s1["p50_on_ms"] <= s1["p50_off_ms"] * 1.05
        out.append(
            f"Dynamic batching never worse at concurrency 1: samples/s {s1['ratio']:.2f}x "
            f"(median of {b['rounds']} rounds, {s1['ratio_min']:.2f}-{s1['ratio_max']:.2f}), "
            f"p50 {s1['p50_on_ms']:.1f} ms vs {s1['p50_off_ms']:.1f} ms without -> {holds(ok)} "
            "(within 5% counts as not worse)"
        )
    ob = results.get("ort_batches")
    if ob:
        rates = ob["rates"]
        gain = max(rates.values()) / max(rates["1"], 1e-9)
        out.append(
            f"(Ceiling for the batching target: in-process onnxruntime runs {ob['label']} at "
            f"{gain:.2f}x the samples/s of batch 1 at its best batch size here, so merging "
            f"requests can gain at most ~{gain:.2f}x over running them one by one)"
        )
    errors = [
        f"{m['label']} {r['path']} {k}: {t.errors}"
        for m in models
        for r in m["paths"]
        for k in ("offline", "server_best", "server_worst")
        if (t := r.get(k)) is not None and t.errors
    ]
    if errors:
        out.append(f"Failed requests (these results are not valid): {'; '.join(errors)}")
    return out


def _best(rows: list[dict[str, Any]], wanted: tuple[str, ...], key: Any) -> dict[str, Any]:
    """The row of a path in ``wanted`` (over the worker counts) with the highest ``key``."""
    return max((r for r in rows if r["path"] in wanted), key=key)


def _with(row: dict[str, Any]) -> str:
    n = row.get("workers", 1)
    how = f"--workers {n}" if n > 1 else "1 server process"
    return f" ({LABELS[row['path']]}, {how})" if row["path"] in GRPC_PATHS else f" ({how})"


def _kind(wanted: tuple[str, ...]) -> str:
    return "gRPC" if wanted == GRPC_PATHS else LABELS[wanted[0]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="benchmarks/loadgen", help="output folder")
    p.add_argument("--smoke", action="store_true", help="tiny counts, GAN only (seconds)")
    p.add_argument(
        "--heavy-latency-ms",
        type=float,
        default=200.0,
        help="Server p99 bound for the compute-heavy model in ms (default 200: resnet18 at "
        "batch 1 alone takes ~36 ms here, so 20 ms cannot hold on any path)",
    )
    p.add_argument(
        "--batching-rounds",
        type=int,
        default=batching.ROUNDS,
        help="interleaved rounds of the dynamic batching A/B on the compute-heavy model "
        f"(default {batching.ROUNDS})",
    )
    p.add_argument(
        "--gan-workers",
        default=None,
        help="server process counts (--workers) to measure the GAN generator's paths with, "
        "comma-separated (default 1,2: one process, then one per core here; --smoke: 1)",
    )
    args = p.parse_args(argv)
    gan_workers = (
        tuple(int(n) for n in args.gan_workers.split(","))
        if args.gan_workers
        else (1,)
        if args.smoke
        else (1, 2)
    )
    t0 = time.monotonic()
    budget = (
        bench.Budget(min_duration_ms=300, steps=1, samples=8, concurrency=2, server_threads=2)
        if args.smoke
        else bench.Budget()
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in (out / "summaries").glob("*.txt"):  # names carry the QPS: a rerun's differ
        stale.unlink()
    cores = len(os.sched_getaffinity(0))
    results: dict[str, Any] = {
        "cores": cores,
        "machine": f"{cores} CPU cores ({platform.machine()}), Python {platform.python_version()}",
        "budget": budget.__dict__,
        "load_before": list(os.getloadavg()),
        "models": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        gan, heavy = bench.export_targets(Path(tmp), args.heavy_latency_ms)
        for target in [gan] if args.smoke else [gan, heavy]:
            steps = budget.steps if target is gan else budget.heavy_steps
            rows = [bench.measure_path("ort", target, budget, steps=steps)]
            for workers in gan_workers if target is gan else (1,):
                flags = ("--workers", str(workers)) if workers > 1 else ()
                with bench.server(target.path, *flags) as (port, gport, pids):
                    for path in PATHS[1:]:
                        rows.append(
                            bench.measure_path(
                                path, target, budget, port, gport, pids, steps, workers
                            )
                        )
                        print(target.label, path, workers, rows[-1]["offline"].achieved, flush=True)
                    if target is gan and workers == 1:
                        rows += bench.grpc_floor(target, budget, gport, Path(tmp), steps)
                        for row in rows[-2:]:
                            print(target.label, row["path"], row["offline"].achieved, flush=True)
            for row in rows:
                report.save_summaries(out, target.label, row)
            results["models"].append(
                {"label": target.label, "latency_ms": target.latency_ms, "paths": rows}
            )
        if not args.smoke:
            results["ort_batches"] = {
                "label": heavy.label,
                "rates": bench.ort_batch_rates(heavy),
            }
            print("ORT by batch", results["ort_batches"], flush=True)
            results["batching"] = batching.compare(heavy, budget, args.batching_rounds)
            one = batching.median_run(results["batching"], "on", "32")
            results["workers"] = _workers(heavy, budget, one)
    results["load_after"] = list(os.getloadavg())
    results["targets"] = _targets(results["models"], results)
    minutes = (time.monotonic() - t0) / 60
    command = "python -m triptych.serve.loadgen" + (" --smoke" if args.smoke else "")
    report.write_readme(out, results, command, minutes)
    print((out / "README.md").read_text())
    return 0


def _workers(heavy: bench.Target, budget: bench.Budget, one: Any) -> dict[str, Any]:
    """Offline HTTP binary at concurrency 32 on the compute-heavy model: the default server
    (``one``, measured in the batching A/B), ``--workers 2`` and ``--instances 2``."""
    runs = {"default (1 process, 1 instance)": one}
    for flags in (("--workers", "2"), ("--instances", "2")):
        with bench.server(heavy.path, *flags) as (port, gport, pids):
            runs[" ".join(flags)] = bench.offline_only(
                "http_binary", heavy, budget, 32, port, gport, pids
            )
    return {"label": heavy.label, "concurrency": 32, "runs": runs}


if __name__ == "__main__":
    sys.exit(main())
