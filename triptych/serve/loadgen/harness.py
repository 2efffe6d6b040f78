"""Drive MLPerf LoadGen against one path: a pool of worker threads (each with its own
connection) completes LoadGen's samples; Offline measures samples/s, Server measures
whether a target QPS is VALID at the latency bound; `max_valid_qps` bisects on it.

Every test is bounded in time (``max_duration_ms``) and count (the QSL size and LoadGen's
query counts follow from the target and the duration); LoadGen's own summary file is kept.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import mlperf_loadgen as lg

from triptych.serve.loadgen.paths import Call

SERVER_QUERIES = 600  # queries a Server test is sized for (early stopping needs ~460 at p99)
SERVER_MAX_MS = 30_000  # the longest a Server test is stretched to reach them (ms)
STOLEN_LIMIT = 5.0  # % of the cores' time the hypervisor may take before a test is rerun
RERUNS = 2  # reruns of a test whose CPU was stolen beyond the limit, at most


@dataclass
class TestResult:
    """One LoadGen test. ``qps``: Offline samples/s or Server target QPS; ``achieved``:
    samples/s completed; ``p99_ms``/``p50_ms``: LoadGen's 99th/50th percentile latency (ms;
    in Offline every sample is issued at once, so these include the wait in the queue);
    ``client_cpu_us``/``server_cpu_us``: CPU time per query of this process / the server
    process(es) (microseconds); ``summary``: LoadGen's mlperf_log_summary.txt;
    ``stolen_pct``: % of the cores' time the hypervisor ran something else during the test
    (Linux steal time; 0 elsewhere); ``reruns``: earlier runs of it dropped for steal."""

    scenario: str
    qps: float
    valid: bool
    achieved: float
    p99_ms: float
    queries: int
    errors: int
    client_cpu_us: float
    server_cpu_us: float | None
    summary: str = field(repr=False)
    p50_ms: float = 0.0
    stolen_pct: float = 0.0
    reruns: int = 0


class Driver:
    """``threads`` workers, each running ``make()``'s call for the samples LoadGen issues."""

    def __init__(self, make: Callable[[], Call], threads: int) -> None:
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.errors = 0
        self.completed = 0
        self.first_error = ""
        self.lock = threading.Lock()
        self.generation = 0  # numbers the LoadGen tests run through this driver
        ready = threading.Barrier(threads + 1)
        self.threads = [
            threading.Thread(target=self._work, args=(make, ready), daemon=True)
            for _ in range(threads)
        ]
        for t in self.threads:
            t.start()
        ready.wait(60)

    def _work(self, make: Callable[[], Call], ready: threading.Barrier) -> None:
        call = make()
        ready.wait(60)
        get, complete, response = self.queue.get, lg.QuerySamplesComplete, lg.QuerySampleResponse
        while (item := get()) is not None:
            sample_id, generation, index = item
            if generation != self.generation:  # issued by a test that is over
                continue
            try:
                call(index)
            except Exception as e:  # counted and reported; LoadGen still gets its answer
                with self.lock:
                    self.errors += 1
                    self.first_error = self.first_error or f"{type(e).__name__}: {e}"[:300]
            if generation == self.generation:  # never complete a finished test's sample
                complete([response(sample_id, 0, 0)])
                self.completed += 1  # one writer per thread; the GIL makes += exact enough

    def end_test(self) -> None:
        """Called when a LoadGen test has returned: its late samples are dropped."""
        with self.lock:
            self.generation += 1

    def issue(self, samples: list) -> None:
        put, generation = self.queue.put, self.generation
        for s in samples:
            put((s.id, generation, s.index))

    def flush(self) -> None:
        """LoadGen's flush callback: queries are sent as they are issued, nothing to flush."""

    def close(self) -> None:
        for _ in self.threads:
            self.queue.put(None)
        for t in self.threads:
            t.join(30)


def process_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by ``pids`` (Linux /proc; 0 elsewhere)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _number(text: str, label: str) -> float:
    m = re.search(rf"^{re.escape(label)}\s*:\s*([0-9.eE+-]+)", text, re.M)
    return float(m.group(1)) if m else 0.0


def steal_ticks() -> int:
    """Clock ticks the hypervisor has taken from this machine's CPUs (the ``steal`` column of
    /proc/stat; 0 where there is none)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) if len(fields) > 8 else 0
    except OSError:
        return 0


def run_test(
    driver: Driver,
    samples: int,
    scenario: str,
    qps: float,
    latency_ms: float,
    min_duration_ms: int,
    server_pids: list[int],
) -> TestResult:
    """`run_once`, run again (at most `RERUNS` times) while the hypervisor took more than
    `STOLEN_LIMIT` % of the cores' time during it: on a shared host a burst of steal time
    stalls client and server alike, and the Server scenario's p99 cannot tell that from a
    slow server. The result counts the runs it dropped."""
    for reruns in range(RERUNS + 1):
        r = run_once(driver, samples, scenario, qps, latency_ms, min_duration_ms, server_pids)
        r.reruns = reruns
        if r.stolen_pct <= STOLEN_LIMIT:
            break
    return r


def run_once(
    driver: Driver,
    samples: int,
    scenario: str,
    qps: float,
    latency_ms: float,
    min_duration_ms: int,
    server_pids: list[int],
) -> TestResult:
    """One LoadGen performance test. ``scenario``: "Offline" (``qps``: expected samples/s,
    which sizes the run), "SingleStream" (one query at a time, the next issued when the last
    is answered: concurrency 1; ``qps``: expected samples/s) or "Server" (``qps``: target
    Poisson arrival rate); ``latency_ms``: the Server p99 bound; ``min_duration_ms``:
    LoadGen's minimum (the maximum is 3x). A Server test lasts at least long enough for
    `SERVER_QUERIES` queries at ``qps`` (at most `SERVER_MAX_MS`): LoadGen's early stopping
    needs ~460 queries, all within the bound, to call a p99 VALID, which at resnet18's 20-40
    QPS takes 15-25 s, not 2.5."""
    if scenario == "Server":
        needed = int(1000 * SERVER_QUERIES / max(qps, 1e-3))
        min_duration_ms = max(min_duration_ms, min(needed, SERVER_MAX_MS))
    settings = lg.TestSettings()
    settings.mode = lg.TestMode.PerformanceOnly
    settings.min_duration_ms = min_duration_ms
    settings.max_duration_ms = 3 * min_duration_ms + 5000
    settings.min_query_count = 64
    if scenario == "Offline":
        settings.scenario = lg.TestScenario.Offline
        settings.offline_expected_qps = qps
    elif scenario == "SingleStream":
        settings.scenario = lg.TestScenario.SingleStream
        settings.single_stream_expected_latency_ns = int(1e9 / max(qps, 1e-3))
    else:
        settings.scenario = lg.TestScenario.Server
        settings.server_target_qps = qps
        settings.server_target_latency_ns = int(latency_ms * 1e6)
        settings.server_target_latency_percentile = 0.99
    out = Path(tempfile.mkdtemp(prefix="loadgen-"))
    log = lg.LogSettings()
    log.log_output.outdir = str(out)
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = False
    sut = lg.ConstructSUT(driver.issue, driver.flush)
    qsl = lg.ConstructQSL(samples, samples, lambda _: None, lambda _: None)
    errors0, done0 = driver.errors, driver.completed
    cpu0, srv0 = time.process_time(), process_cpu(server_pids)
    steal0, wall0 = steal_ticks(), time.monotonic()
    try:
        lg.StartTestWithLogSettings(sut, qsl, settings, log)
    finally:
        driver.end_test()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    cpu, srv = time.process_time() - cpu0, process_cpu(server_pids) - srv0
    ticks = os.sysconf("SC_CLK_TCK") * (time.monotonic() - wall0) * (os.cpu_count() or 1)
    stolen = 100.0 * (steal_ticks() - steal0) / max(ticks, 1e-9)
    queries = max(1, driver.completed - done0)
    text = (out / "mlperf_log_summary.txt").read_text()
    shutil.rmtree(out, ignore_errors=True)
    achieved = _number(text, "Samples per second")
    if scenario == "Server":
        achieved = _number(text, "Completed samples per second")
    elif scenario == "SingleStream":
        achieved = _number(text, "QPS w/ loadgen overhead")
    errors = driver.errors - errors0
    return TestResult(
        scenario=scenario,
        qps=qps,
        valid="Result is : VALID" in text and errors == 0,
        achieved=achieved,
        p99_ms=_number(text, "99.00 percentile latency (ns)") / 1e6,
        p50_ms=_number(text, "50.00 percentile latency (ns)") / 1e6,
        queries=queries,
        errors=errors,
        client_cpu_us=cpu / queries * 1e6,
        server_cpu_us=srv / queries * 1e6 if server_pids else None,
        summary=text,
        stolen_pct=stolen,
    )


def offline(
    driver: Driver, samples: int, guess: float, min_duration_ms: int, server_pids: list[int]
) -> TestResult:
    """Offline samples/s: a first run sized by ``guess``, rerun once sized by what it measured
    when it was too short for LoadGen's minimum duration."""
    r = run_test(driver, samples, "Offline", guess, 0, min_duration_ms, server_pids)
    if not r.valid and r.achieved > 0 and r.errors == 0:
        r = run_test(driver, samples, "Offline", r.achieved * 1.1, 0, min_duration_ms, server_pids)
    return r


def max_valid_qps(
    driver: Driver,
    samples: int,
    upper: float,
    latency_ms: float,
    min_duration_ms: int,
    server_pids: list[int],
    steps: int = 5,
) -> tuple[TestResult | None, TestResult | None]:
    """Bisection on the Server target QPS in (0, ``upper``] for ``steps`` tests: (the highest
    VALID result, the lowest INVALID one above it); None where there was none."""
    lo, hi = 0.0, upper
    best: TestResult | None = None
    worst: TestResult | None = None
    for _ in range(steps):
        mid = (lo + hi) / 2 if best or worst else upper * 0.75
        r = run_test(driver, samples, "Server", mid, latency_ms, min_duration_ms, server_pids)
        if r.valid:
            lo, best = mid, r
        else:
            hi, worst = mid, r
    return best, worst
