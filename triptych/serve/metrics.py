"""Prometheus text-format metrics: requests, errors and a latency histogram per model."""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[str, int] = defaultdict(int)
        self.errors: dict[tuple[str, int], int] = defaultdict(int)
        self.buckets: dict[str, list[int]] = defaultdict(lambda: [0] * len(BUCKETS))
        self.sums: dict[str, float] = defaultdict(float)

    def observe(self, model: str, seconds: float, status: int) -> None:
        with self._lock:
            self.requests[model] += 1
            if status >= 400:
                self.errors[(model, status)] += 1
                return
            self.sums[model] += seconds
            for i, edge in enumerate(BUCKETS):
                if seconds <= edge:
                    self.buckets[model][i] += 1

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP triptych_requests_total Inference requests per model.",
                "# TYPE triptych_requests_total counter",
            ]
            lines += [
                f'triptych_requests_total{{model="{m}"}} {n}'
                for m, n in sorted(self.requests.items())
            ]
            lines += [
                "# HELP triptych_errors_total Failed inference requests per status.",
                "# TYPE triptych_errors_total counter",
            ]
            lines += [
                f'triptych_errors_total{{model="{m}",status="{s}"}} {n}'
                for (m, s), n in sorted(self.errors.items())
            ]
            lines += [
                "# HELP triptych_latency_seconds Successful inference latency.",
                "# TYPE triptych_latency_seconds histogram",
            ]
            for m, counts in sorted(self.buckets.items()):
                ok = self.requests[m] - sum(n for (mm, _), n in self.errors.items() if mm == m)
                lines += [
                    f'triptych_latency_seconds_bucket{{model="{m}",le="{e}"}} {c}'
                    for e, c in zip(BUCKETS, counts, strict=True)
                ]
                lines += [
                    f'triptych_latency_seconds_bucket{{model="{m}",le="+Inf"}} {ok}',
                    f'triptych_latency_seconds_sum{{model="{m}"}} {self.sums[m]}',
                    f'triptych_latency_seconds_count{{model="{m}"}} {ok}',
                ]
            return "\n".join(lines) + "\n"
