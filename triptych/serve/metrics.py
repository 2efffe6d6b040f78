"""Prometheus text-format metrics: requests, errors and a latency histogram per model, and
(`batch_lines`) the dynamic batcher's runs, requests and rows per model version, as Triton's
``nv_inference_exec_count`` / ``nv_inference_request_success`` / ``nv_inference_count``
(requests per run = how much merging happened).

Labels exist only for served models (fixed at start): requests to unknown names count in one
unlabelled counter, so crafted URLs can neither add lines nor grow memory. Label values are
escaped per the text format (backslash, double quote, newline) all the same.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)  # seconds


def escape(value: str) -> str:
    """A Prometheus label value, escaped: backslash, double quote and newline as ``\\\\``,
    ``\\"`` and ``\\n``."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Counters for the model names in ``models``; thread-safe."""

    def __init__(self, models: Iterable[str]) -> None:
        self._lock = threading.Lock()
        self.models = set(models)
        self.unknown = 0
        self.requests: dict[str, int] = defaultdict(int)
        self.errors: dict[tuple[str, int], int] = defaultdict(int)
        self.buckets: dict[str, list[int]] = defaultdict(lambda: [0] * len(BUCKETS))
        self.sums: dict[str, float] = defaultdict(float)

    def add(self, model: str) -> None:
        """Count requests to ``model`` too (a model loaded while serving)."""
        with self._lock:
            self.models.add(model)

    def observe(self, model: str, seconds: float, status: int) -> None:
        """Count one inference request to ``model`` that took ``seconds`` and got ``status``."""
        with self._lock:
            if model not in self.models:
                self.unknown += 1
                return
            self.requests[model] += 1
            if status >= 400:
                self.errors[(model, status)] += 1
                return
            self.sums[model] += seconds
            for i, edge in enumerate(BUCKETS):
                if seconds <= edge:
                    self.buckets[model][i] += 1

    def render(self) -> str:
        """The text exposition format (version 0.0.4)."""
        with self._lock:
            lines = [
                "# HELP triptych_requests_total Inference requests per model.",
                "# TYPE triptych_requests_total counter",
            ]
            lines += [
                f'triptych_requests_total{{model="{escape(m)}"}} {n}'
                for m, n in sorted(self.requests.items())
            ]
            lines += [
                "# HELP triptych_unknown_model_requests_total Requests to unknown model names.",
                "# TYPE triptych_unknown_model_requests_total counter",
                f"triptych_unknown_model_requests_total {self.unknown}",
                "# HELP triptych_errors_total Failed inference requests per status.",
                "# TYPE triptych_errors_total counter",
            ]
            lines += [
                f'triptych_errors_total{{model="{escape(m)}",status="{s}"}} {n}'
                for (m, s), n in sorted(self.errors.items())
            ]
            lines += [
                "# HELP triptych_latency_seconds Successful inference latency.",
                "# TYPE triptych_latency_seconds histogram",
            ]
            for m, counts in sorted(self.buckets.items()):
                ok = self.requests[m] - sum(n for (mm, _), n in self.errors.items() if mm == m)
                label = escape(m)
                lines += [
                    f'triptych_latency_seconds_bucket{{model="{label}",le="{e}"}} {c}'
                    for e, c in zip(BUCKETS, counts, strict=True)
                ]
                lines += [
                    f'triptych_latency_seconds_bucket{{model="{label}",le="+Inf"}} {ok}',
                    f'triptych_latency_seconds_sum{{model="{label}"}} {self.sums[m]}',
                    f'triptych_latency_seconds_count{{model="{label}"}} {ok}',
                ]
            return "\n".join(lines) + "\n"


def batch_lines(counts: dict[tuple[str, str], tuple[int, int, int]]) -> list[str]:
    """Text-format lines of the batchers' counters: (model, version) -> (runs, requests,
    rows) since the server started."""
    lines = []
    for metric, i, text in (
        ("triptych_batch_runs_total", 0, "onnxruntime runs of the dynamic batcher"),
        ("triptych_batch_requests_total", 1, "Requests answered by those runs"),
        ("triptych_batch_rows_total", 2, "Rows (batch-axis samples) in those runs"),
    ):
        lines += [f"# HELP {metric} {text}.", f"# TYPE {metric} counter"]
        lines += [
            f'{metric}{{model="{escape(m)}",version="{escape(v)}"}} {c[i]}'
            for (m, v), c in sorted(counts.items())
        ]
    return lines
