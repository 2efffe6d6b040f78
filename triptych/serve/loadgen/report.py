"""benchmarks/loadgen/: README.md (the table and which targets hold), results.json, and
LoadGen's own summary files under summaries/."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from triptych.serve.loadgen import batching
from triptych.serve.loadgen.h2_stream import DEPTH, STREAMS
from triptych.serve.loadgen.harness import (
    RERUNS,
    SERVER_MAX_MS,
    SERVER_QUERIES,
    STOLEN_LIMIT,
    TestResult,
)
from triptych.serve.loadgen.paths import LABELS


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def save_summaries(out: Path, model: str, row: dict[str, Any]) -> None:
    """LoadGen's summaries of one path: Offline, the max VALID Server QPS, the first INVALID."""
    folder = out / "summaries"
    folder.mkdir(parents=True, exist_ok=True)
    for key in ("offline", "server_best", "server_worst"):
        r: TestResult | None = row.get(key)
        if r is not None:
            workers = row.get("workers", 1)
            path = row["path"] + (f"_{workers}workers" if workers > 1 else "")
            name = f"{_slug(model)}__{path}__{key}_{r.qps:.0f}.txt"
            (folder / name).write_text(r.summary)


def _plain(r: TestResult | None) -> dict[str, Any] | None:
    if r is None:
        return None
    d = asdict(r)
    d.pop("summary")
    return d


def to_json(results: dict[str, Any]) -> str:
    def conv(x: Any) -> Any:
        if isinstance(x, TestResult):
            return _plain(x)
        if isinstance(x, dict):
            return {k: conv(v) for k, v in x.items()}
        if isinstance(x, list):
            return [conv(v) for v in x]
        return x

    return json.dumps(conv(results), indent=2)


def _fmt(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def row_label(row: dict[str, Any]) -> str:
    """The path's name, with the server's process count when it ran more than one."""
    workers = row.get("workers", 1)
    return LABELS[row["path"]] + (f", --workers {workers}" if workers > 1 else "")


def table(model: dict[str, Any]) -> list[str]:
    """Markdown rows of one model: per path (and server process count) Offline, Server max
    VALID QPS, ratios to in-process ORT, CPU per query."""
    ort = next(r for r in model["paths"] if r["path"] == "ort")
    ort_off = ort["offline"].achieved
    ort_srv = ort["server_best"].qps if ort["server_best"] else 0.0
    lines = [
        f"**{model['label']}** (Server bound: p99 <= {model['latency_ms']:g} ms)",
        "",
        "| path | Offline samples/s | / ORT | Server max VALID QPS | / ORT | p99 there (ms) "
        "| first INVALID QPS (p99 ms) | client CPU us/query | server CPU us/query |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in model["paths"]:
        off: TestResult = r["offline"]
        best: TestResult | None = r["server_best"]
        worst: TestResult | None = r["server_worst"]
        if best is None and worst is None:  # measured Offline only
            server = "- | - | - | -"
        else:
            srv = best.qps if best else 0.0
            server = (
                f"{srv:,.0f} | {(srv / ort_srv if ort_srv else 0):.2f} | "
                f"{_fmt(best.p99_ms if best else None, 2)} | "
                f"{_fmt(worst.qps if worst else None)} "
                f"({_fmt(worst.p99_ms if worst else None, 1)})"
            )
        lines.append(
            f"| {row_label(r)} | {off.achieved:,.0f} | {off.achieved / ort_off:.2f} | {server}"
            f" | {off.client_cpu_us:,.0f} | {_fmt(off.server_cpu_us)} |"
        )
    return lines


def batching_table(b: dict[str, Any]) -> list[str]:
    """Markdown of the interleaved dynamic batching A/B (`batching.compare`)."""
    lines = [
        f"**Dynamic batching on {b['label']}** (HTTP binary; {b['rounds']} interleaved rounds, "
        "the two servers' order alternating; concurrency 1 is LoadGen SingleStream, 32 is "
        "Offline; medians, the ratio's min-max over the rounds in brackets)",
        "",
        "| concurrency | no batching samples/s | dynamic batching samples/s | ratio (min-max) "
        "| p50 no batching (ms) | p50 dynamic batching (ms) |",
        "|---|---|---|---|---|---|",
    ]
    for c in sorted(b["runs"]["off"], key=int):
        s = batching.summary(b, c)
        p50 = (
            f"{s['p50_off_ms']:.1f} | {s['p50_on_ms']:.1f}"
            if c == "1"
            else "- | -"  # Offline issues every sample at once: its latencies are queueing
        )
        lines.append(
            f"| {c} | {s['off']:,.1f} | {s['on']:,.1f} | {s['ratio']:.2f} "
            f"({s['ratio_min']:.2f}-{s['ratio_max']:.2f}) | {p50} |"
        )
    return [*lines, ""]


def _all_tests(x: Any) -> list[TestResult]:
    """Every LoadGen test result anywhere in ``x`` (the results dict)."""
    if isinstance(x, TestResult):
        return [x]
    if isinstance(x, dict):
        return [t for v in x.values() for t in _all_tests(v)]
    if isinstance(x, list):
        return [t for v in x for t in _all_tests(v)]
    return []


def steal_line(results: dict[str, Any]) -> str:
    """How much CPU the hypervisor took during the kept tests, and how many were rerun."""
    tests = _all_tests(results)
    if not tests:
        return ""
    worst = max(t.stolen_pct for t in tests)
    reruns = sum(t.reruns for t in tests)
    return (
        f"CPU stolen by the hypervisor (steal time) during the {len(tests)} kept LoadGen "
        f"tests: at most {worst:.1f} % of the cores' time; {reruns} runs were dropped and "
        f"rerun for passing {STOLEN_LIMIT:g} % (at most {RERUNS} reruns a test)."
    )


def _loads(loads: list[float] | None) -> str:
    return "/".join(f"{x:.2f}" for x in loads) if loads else "-"


def write_readme(out: Path, results: dict[str, Any], command: str, minutes: float) -> None:
    lines = [
        "# Serving under MLPerf LoadGen",
        "",
        f"`{command}` ({minutes:.1f} min). Generated by `triptych.serve.loadgen`; LoadGen's "
        "own summaries are in `summaries/`, every number in `results.json`.",
        "",
        "Setup: loopback (127.0.0.1), `triptych serve MODEL --grpc-port P` in its own process "
        "(dynamic batching on, onnxruntime's default threads with spinning off), the LoadGen "
        "client in another: one query = one sample at batch 1, request bytes prepared once "
        "per sample, one persistent connection per client thread (HTTP), 4 channels with a "
        "TCP connection each (gRPC ModelInfer calls through grpcio, bytes in/bytes out) or "
        f"{STREAMS} ModelStreamInfer streams with a connection each, driven by a minimal HTTP/2 "
        "client of raw sockets and one reader thread (gRPC stream, `h2_stream`: each sample "
        f"goes to the stream with the fewest in flight, at most {DEPTH} a stream, the rest "
        "wait for the next answer; the server answers a stream's requests in "
        "order). In-process ORT is the ceiling: `session.run` on the same "
        f"samples from {results['cores']} threads, no server, the same session options as the "
        f"server's. Offline: {results['budget']['concurrency']} client threads; Server: "
        f"{results['budget']['server_threads']} client threads, Poisson arrivals, bisection "
        f"({results['budget']['steps']} LoadGen runs, {results['budget']['heavy_steps']} on "
        "the compute-heavy model, each of >= "
        f"{results['budget']['min_duration_ms'] / 1000:g} s and long enough for "
        f"{SERVER_QUERIES} queries at the target rate, at most {SERVER_MAX_MS / 1000:g} s) "
        "for the highest target QPS that LoadGen calls VALID. "
        f"Machine: {results['machine']}; client and server share it. Load average "
        f"(1/5/15 min) before the run {_loads(results.get('load_before'))}, after "
        f"{_loads(results.get('load_after'))}: other jobs shared these cores too.",
        "",
        "Client CPU per query is this process's CPU time (LoadGen included) over the Offline "
        "run; server CPU per query is the server process's (all workers). " + steal_line(results),
        "",
        "The GAN generator's server paths are measured with one server process and again "
        "with `--workers N` (N processes sharing the ports, onnxruntime threads "
        "max(1, cores // N) each): one Python process serves from one core at a time, and "
        "in-process ORT, the ceiling, uses every core. The gRPC floors are grpcio alone "
        "(`triptych.serve.loadgen.grpc_floor`: the same threaded server answering every "
        "ModelInfer call, and every ModelStreamInfer message, with a stored response of the "
        "model, no parsing, no model) under the same clients: no grpcio server with these "
        "clients can be faster than them here.",
        "",
    ]
    for model in results["models"]:
        lines += [*table(model), ""]
    ob = results.get("ort_batches")
    if ob:
        rates = ob["rates"]
        lines += [
            f"**{ob['label']} in process by batch size** (onnxruntime alone, one caller, the "
            "server's session options: what merging requests can gain at most)",
            "",
            "| batch | samples/s | / batch 1 |",
            "|---|---|---|",
            *(
                f"| {b} | {r:,.1f} | {r / max(rates['1'], 1e-9):.2f} |"
                for b, r in sorted(rates.items(), key=lambda kv: int(kv[0]))
            ),
            "",
        ]
    extra = results.get("batching")
    if extra:
        lines += batching_table(extra)
    workers = results.get("workers")
    if workers:
        lines += [
            f"**--workers and --instances on {workers['label']}** (HTTP binary, Offline, "
            f"concurrency {workers['concurrency']}, dynamic batching on; workers: N processes, "
            "ORT threads max(1, cores // N) each; instances: N merged runs in progress at once "
            "in one process)",
            "",
            "| server | samples/s | server CPU us/query |",
            "|---|---|---|",
        ]
        for flags, r in workers["runs"].items():
            lines.append(f"| {flags} | {r.achieved:,.1f} | {_fmt(r.server_cpu_us)} |")
        lines.append("")
    lines += ["## Targets", "", *[f"- {t}" for t in results["targets"]], ""]
    if results.get("notes"):
        lines += ["## Why", "", *results["notes"], ""]
    (out / "README.md").write_text("\n".join(lines))
    (out / "results.json").write_text(to_json(results))
