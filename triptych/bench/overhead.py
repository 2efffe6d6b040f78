"""Harness overhead: triptych's train step against a minimal hand-written loop in the same
framework, on the same network, batch and optimizer (Adam 1e-4, MSE). Run in its own
process: ``python -m triptych.bench.overhead FW MODEL BATCH THREADS`` prints a RESULT line."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from triptych.bench.worker import limit_threads
from triptych.common.recipe import Optimizer
from triptych.model import create


def _median_ms(fn: Callable[[], Any], warmup: int = 5, repeats: int = 50) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1000


def measure(framework: str, model_name: str, batch: int, threads: int) -> dict[str, Any]:
    limit_threads(threads)
    ours = create(model_name, framework=framework, seed=0)
    ours.backend.set_threads(threads)
    plain = create(model_name, framework=framework, seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((batch, *ours.spec.input_shape), dtype=np.float32)
    t = rng.random((batch, *ours.spec.output_shape), dtype=np.float32)
    step = ours.make_trainer("mse", Optimizer("adam", 1e-4))
    triptych_ms = _median_ms(lambda: step(x, t))
    plain_ms = _median_ms(plain.backend.plain_train_step(plain.built_chain(), x, t, lr=1e-4))
    return {
        "framework": framework,
        "model": model_name,
        "batch": batch,
        "triptych_ms": triptych_ms,
        "plain_ms": plain_ms,
        "overhead": triptych_ms / plain_ms - 1.0,
    }


if __name__ == "__main__":
    fw, name, b, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    print("RESULT " + json.dumps(measure(fw, name, b, n)))
