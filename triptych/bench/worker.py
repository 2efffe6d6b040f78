"""One benchmark cell, run in its own process: ``python -m triptych.bench.worker`` reads the
cell as JSON on stdin and prints one JSON result line. The thread budget is set before any
framework is imported (OpenMP/MKL/OpenBLAS env, torch/TF/MXNet threads, ORT intra-op)."""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from triptych.bench.cell import Cell
from triptych.common import zoo
from triptych.common.recipe import Optimizer
from triptych.export.ort import make_session
from triptych.model import Model, create


def limit_threads(n: int) -> None:
    for var in (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MXNET_CPU_WORKER_NTHREADS",
    ):
        os.environ[var] = str(n)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _tuned_infer(model: Model, x: np.ndarray) -> Callable[[], Any]:
    """The framework's recommended inference speed options on the main chain."""
    return model.backend.fast_infer(model.built_chain(), x)


def _ort_fn(model: Model, x: np.ndarray, cell: Cell, tmp: str) -> Callable[[], Any]:
    paths = model.export_onnx(
        tmp,
        networks=model.spec.main_chain,
        exporter=model.backend.fast_exporter,
    )
    sessions = [
        make_session(
            paths[n],
            provider="auto",
            threads=cell.threads,
            opt_level="all" if cell.variant == "tuned" else "basic",
        )
        for n in model.spec.main_chain
    ]
    names = [s.get_inputs()[0].name for s in sessions]

    def run() -> Any:
        h = x
        for s, name in zip(sessions, names, strict=True):
            h = s.run(None, {name: h})[0]
        return h

    return run


def _train_fn(model: Model, x: np.ndarray, cell: Cell) -> Callable[[], Any]:
    target = np.random.default_rng(1).random(
        (cell.batch, *model.spec.output_shape), dtype=np.float32
    )
    step = model.backend.train.make_trainer(
        model.built_chain(),
        "mse",
        Optimizer("adam", 1e-4),
        tuned=cell.variant == "tuned",
    )
    return lambda: step(x, target)


def run_cell(cell: Cell) -> dict[str, Any]:
    limit_threads(cell.threads)
    spec = zoo.create_spec(cell.model)
    model = create(spec, framework=cell.framework, seed=0)
    model.backend.set_threads(cell.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((cell.batch, *spec.input_shape)).astype(np.float32)
    if len(spec.input_shape) == 3:
        x = rng.random((cell.batch, *spec.input_shape), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        if cell.mode == "train":
            fn = _train_fn(model, x, cell)
        elif cell.mode == "ort":
            fn = _ort_fn(model, x, cell, tmp)
        elif cell.variant == "tuned":
            fn = _tuned_infer(model, x)
        else:
            fn = lambda: model.predict(x)  # noqa: E731
        for _ in range(cell.warmup):
            fn()
        samples = []
        for _ in range(cell.repeats):
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
    flops = sum(spec.networks[n].flops for n in spec.main_chain) * cell.batch
    if cell.mode == "train":
        flops *= 3  # forward + backward (data and weights): the usual 3x rule
    median = float(np.median(samples))
    q1, q3 = (float(v) for v in np.percentile(samples, [25, 75]))
    gflops = flops / median / 1e9
    return {
        "cell": json.loads(cell.to_json()),
        "status": "ok",
        "samples_s": samples,
        "median_s": median,
        "iqr_s": q3 - q1,
        "p50_ms": median * 1000,
        "p90_ms": float(np.percentile(samples, 90)) * 1000,
        "p99_ms": float(np.percentile(samples, 99)) * 1000,
        "samples_per_s": cell.batch / median,
        "flops": flops,
        "gflops": gflops,
        "fraction_of_peak": gflops / cell.peak_gflops if cell.peak_gflops else None,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "version": model.backend.version(),
    }


def main() -> int:
    cell = Cell.from_json(sys.stdin.read())
    result = run_cell(cell)
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
