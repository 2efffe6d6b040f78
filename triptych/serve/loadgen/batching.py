"""Dynamic batching against no batching on the compute-heavy model, as an interleaved A/B.

Two `triptych serve` processes run side by side (``--no-batching`` and the default dynamic
batching; the idle one sleeps, its onnxruntime threads do not spin), and each round measures
both at concurrency 1 (LoadGen SingleStream: one query at a time, the next when the last is
answered, which gives samples/s and the p50 latency of a lone request) and at concurrency 32
(Offline), the order of the two servers alternating from round to round (off/on, on/off,
...) so that a drift of the machine's load hits both alike. What is reported per concurrency
is the median of the per-round ratios (on / off) with their min and max: one pair of runs on
a shared machine moves by about ±20 %, the median of several interleaved pairs much less.
"""

from __future__ import annotations

import contextlib
import statistics
from typing import Any

from triptych.serve.loadgen import bench
from triptych.serve.loadgen.harness import TestResult, run_test

ARMS = ("off", "on")  # no batching (--no-batching), dynamic batching (the default)
CONCURRENCY = (1, 32)
ROUNDS = 5
SINGLE_STREAM_GUESS = 30.0  # samples/s a SingleStream test is first sized for (resnet18 here)


def measure(
    target: bench.Target,
    budget: bench.Budget,
    concurrency: int,
    port: int,
    gport: int,
    pids: list[int],
) -> TestResult:
    """One measurement over HTTP binary: SingleStream at concurrency 1, else Offline."""
    if concurrency > 1:
        return bench.offline_only("http_binary", target, budget, concurrency, port, gport, pids)
    xs = bench._samples(target, budget.samples)
    driver = bench._driver("http_binary", target, xs, port, gport, 1)
    try:
        guess = SINGLE_STREAM_GUESS
        r = run_test(driver, budget.samples, "SingleStream", guess, 0, budget.min_duration_ms, pids)
        if r.achieved > 1.5 * guess:  # sized too short for the minimum duration: size it right
            r = run_test(
                driver, budget.samples, "SingleStream", r.achieved, 0, budget.min_duration_ms, pids
            )
        return r
    finally:
        driver.close()


def compare(target: bench.Target, budget: bench.Budget, rounds: int = ROUNDS) -> dict[str, Any]:
    """``rounds`` interleaved rounds; {"label", "rounds", "order" (the measurements as
    "round:concurrency:arm", in order), "runs": {arm: {concurrency: [TestResult per
    round]}}} (concurrency as a string key, for JSON)."""
    runs: dict[str, dict[str, list[TestResult]]] = {
        arm: {str(c): [] for c in CONCURRENCY} for arm in ARMS
    }
    order: list[str] = []  # "round:concurrency:arm" in the order measured
    with contextlib.ExitStack() as stack:
        servers = {
            "off": stack.enter_context(bench.server(target.path, "--no-batching")),
            "on": stack.enter_context(bench.server(target.path)),
        }
        for k in range(rounds):
            arms = ARMS if k % 2 == 0 else ARMS[::-1]
            for c in CONCURRENCY:
                for arm in arms:
                    port, gport, pids = servers[arm]
                    r = measure(target, budget, c, port, gport, pids)
                    runs[arm][str(c)].append(r)
                    order.append(f"{k}:{c}:{arm}")
                    print(f"batching round {k} {arm} c={c}: {r.achieved:.1f}/s", flush=True)
    return {"label": target.label, "rounds": rounds, "order": order, "runs": runs}


def ratios(result: dict[str, Any], concurrency: str) -> list[float]:
    """Per-round samples/s ratios, dynamic batching over no batching."""
    on, off = result["runs"]["on"][concurrency], result["runs"]["off"][concurrency]
    return [a.achieved / max(b.achieved, 1e-9) for a, b in zip(on, off, strict=True)]


def summary(result: dict[str, Any], concurrency: str) -> dict[str, float]:
    """Median samples/s of each arm, the median per-round ratio with its min and max, and
    (from the runs) the median p50 latency of each arm in ms."""
    rs = ratios(result, concurrency)
    runs = result["runs"]
    return {
        "off": statistics.median(r.achieved for r in runs["off"][concurrency]),
        "on": statistics.median(r.achieved for r in runs["on"][concurrency]),
        "ratio": statistics.median(rs),
        "ratio_min": min(rs),
        "ratio_max": max(rs),
        "p50_off_ms": statistics.median(r.p50_ms for r in runs["off"][concurrency]),
        "p50_on_ms": statistics.median(r.p50_ms for r in runs["on"][concurrency]),
    }


def median_run(result: dict[str, Any], arm: str, concurrency: str) -> TestResult:
    """The run of ``arm`` at ``concurrency`` with the median samples/s."""
    runs = sorted(result["runs"][arm][concurrency], key=lambda r: r.achieved)
    return runs[len(runs) // 2]
