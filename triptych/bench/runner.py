"""Run cells, each in its own subprocess with a timeout; a failed or timed-out cell is
recorded with its error and the run goes on. With a time budget for the whole run, the cells
left when it is spent are recorded as skipped, with that reason (none is dropped)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from triptych.bench import provenance
from triptych.bench.cell import Cell
from triptych.info import collect

CELL_TIMEOUT_S = 300


def run_one(
    cell: Cell, timeout: float = CELL_TIMEOUT_S, quiet_patience_s: float = 0.0
) -> dict[str, Any]:
    """The worker's result, or ``{"status": "failed" | "timeout", "error": ...}``, with
    ``load``: the load average and the cores others kept busy just before the cell (after
    waiting up to ``quiet_patience_s``, default 0, for them to free), the cores others used
    over the whole worker process and over its timed calls (the worker's ``timed_window``),
    and ``busy``: whether others (and a hypervisor's steal) took more than the cores the
    cell leaves spare during the timed calls (during the whole process when the cell did
    not get as far)."""
    before = provenance.wait_quiet(cell.threads, quiet_patience_s)
    meter = provenance.CpuMeter().start()
    result = _run_worker(cell, timeout)
    during = meter.read()
    spare = provenance.spare_cores(cell.threads)
    result["load"] = {**before, **during, "spare_cores": spare}
    result["load"]["busy"] = disturbance(result) > spare
    return result


def disturbance(result: dict[str, Any]) -> float:
    """Cores others (and a hypervisor's steal) took while ``result``'s cell was timed: over
    its timed calls when it got that far, else over its whole process."""
    window = result.get("timed_window") or result["load"]
    return float(window["others_cores"] + window["steal_cores"])


def _run_worker(cell: Cell, timeout: float) -> dict[str, Any]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "triptych.bench.worker"],
            input=cell.to_json(),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return {
            "cell": json.loads(cell.to_json()),
            "status": "timeout",
            "error": f"no result within {timeout:.0f} s",
        }
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        err = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return {
            "cell": json.loads(cell.to_json()),
            "status": "failed",
            "error": (err[-1] if err else f"exit {proc.returncode}")[:500],
            "wall_s": wall,
        }
    result = json.loads(lines[-1][len("RESULT ") :])
    result["wall_s"] = wall
    return result


def environment(
    threads: int, peak: float, facts_at_start: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Versions, CPU and peak of a run, with its `provenance.provenance` (commit, date, CPU
    flags, library versions, load): ``facts_at_start`` when the caller took them as the run
    began (the commit and tree the cells ran), else taken now."""
    facts = collect(measure_peak=False)
    facts.update(threads=threads, matmul_peak_gflops=peak, platform=platform.platform())
    facts["provenance"] = facts_at_start or provenance.provenance(threads)
    return facts


def skipped(cell: Cell, reason: str) -> dict[str, Any]:
    """The record of a cell that did not run, and why."""
    return {"cell": json.loads(cell.to_json()), "status": "skipped", "error": reason}


def run_cells(
    cells: list[Cell],
    peak: float,
    on_done: Callable[[dict[str, Any]], None] | None = None,
    budget_s: float | None = None,
    timeout: float = CELL_TIMEOUT_S,
    quiet_patience_s: float = 0.0,
) -> list[dict[str, Any]]:
    """Every cell (with the machine's peak filled in), in order. ``budget_s`` (default: none):
    once the run has taken that many seconds, the remaining cells are recorded as skipped;
    ``timeout``: seconds one cell may take (default `CELL_TIMEOUT_S`); ``quiet_patience_s``:
    seconds to wait for a busy machine to free before each cell (default 0: record only)."""
    results = []
    t0 = time.perf_counter()
    for cell in cells:
        spent = time.perf_counter() - t0
        if budget_s is not None and spent >= budget_s:
            result = skipped(cell, f"the run's time budget ({budget_s:.0f} s) was spent first")
        else:
            result = run_one(replace(cell, peak_gflops=peak), timeout, quiet_patience_s)
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results
