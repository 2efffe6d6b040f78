"""Where ONNX Runtime spends an inference: its profiler's per-node times summed by op type,
for one framework's export of a scale model at one batch (how a miss of the "ORT ≥ fastest
native" target is explained). `triptych.export.ort.make_session` has no profiling switch, so
the session is made here with onnxruntime's own options (same threads, all optimisations).

``python -m triptych.bench.ort_profile MODEL FRAMEWORK BATCH [--image-shape 3,32,32]
[--stem cifar] [--runs 10]`` prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from triptych.bench.cell import ModelOptions
from triptych.bench.worker import limit_threads
from triptych.common import zoo_scale
from triptych.model import create


@dataclass(frozen=True)
class OpTime:
    op_type: str
    count: int  # node runs across the profiled runs
    total_ms: float  # summed over the profiled runs
    share: float  # of all node time


def op_times(trace: list[dict], runs: int) -> list[OpTime]:
    """Per op type, the ``Node`` events' durations of an ORT profile (``trace``: its JSON),
    largest first; ``total_ms`` per run."""
    by: dict[str, list[float]] = defaultdict(list)
    for ev in trace:
        if ev.get("cat") == "Node" and ev.get("name", "").endswith("_kernel_time"):
            by[ev.get("args", {}).get("op_name", "?")].append(ev["dur"] / 1000.0)
    total = sum(sum(v) for v in by.values()) or 1.0
    out = [OpTime(k, len(v), sum(v) / runs, sum(v) / total) for k, v in by.items()]
    return sorted(out, key=lambda o: -o.total_ms)


def profile(
    model: str,
    framework: str,
    batch: int,
    options: ModelOptions | None = None,
    threads: int = 2,
    runs: int = 10,
) -> tuple[float, list[OpTime]]:
    """(median ms of one chained inference, op times per run) for ``framework``'s export of
    ``model`` under ORT with profiling on."""
    limit_threads(threads)
    spec = zoo_scale.create_spec(model, **(options or ModelOptions()).kwargs())
    m = create(spec, framework=framework, seed=0)
    x = np.random.default_rng(0).random((batch, *spec.input_shape), dtype=np.float32)
    trace: list[dict] = []
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = m.export_onnx(tmp, networks=spec.main_chain, exporter=m.backend.fast_exporter)
        sessions = []
        for n in spec.main_chain:
            so = ort.SessionOptions()
            so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            so.enable_profiling = True
            so.profile_file_prefix = str(Path(tmp) / f"profile_{n}")
            sessions.append(ort.InferenceSession(str(paths[n]), so))
        feeds = [s.get_inputs()[0].name for s in sessions]

        def run() -> None:
            h = x
            for s, name in zip(sessions, feeds, strict=True):
                h = s.run(None, {name: h})[0]

        run()  # warm-up: in the profile too, so op times are averaged over runs + 1
        for _ in range(runs):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        for s in sessions:
            trace += json.loads(Path(s.end_profiling()).read_text())
    return float(np.median(times)) * 1000, op_times(trace, runs + 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("framework")
    p.add_argument("batch", type=int)
    p.add_argument("--image-shape", help="C,H,W")
    p.add_argument("--stem")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--top", type=int, default=8)
    a = p.parse_args(argv)
    shape = tuple(int(v) for v in a.image_shape.split(",")) if a.image_shape else None
    median, ops = profile(a.model, a.framework, a.batch, ModelOptions(shape, a.stem), runs=a.runs)
    print(f"{a.model} {ModelOptions(shape, a.stem).label} b{a.batch}, {a.framework} export, "
          f"ORT all optimisations: {median:.1f} ms per inference (median of {a.runs})")  # fmt: skip
    print("\n| op type | ms per run | share | node runs |\n|---|---|---|---|")
    for o in ops[: a.top]:
        print(f"| {o.op_type} | {o.total_ms:.2f} | {o.share:.1%} | {o.count} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
