"""The run's fp32 peak: the best GFLOP/s of square fp32 GEMMs in numpy (its BLAS), ONNX
Runtime (MLAS) and every installed framework (its own CPU GEMM: PyTorch's MKL/oneDNN,
MXNet's oneDNN inner product, TensorFlow's and XLA's dots; each backend's
``speed.cpu_gemm``), over a few sizes, on the threads a cell uses. Each runs in its own
process with the thread variables set, so nothing leaks between them or into the caller:
``python -m triptych.bench.gemm_peak LIBRARY THREADS`` prints ``RESULT {size: GFLOP/s}``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from triptych.frameworks.base import available, get_backend

#: square matrix sizes; the best over them is the library's peak
SIZES = (512, 1024, 2048)
#: measured besides the frameworks
LIBRARIES = ("numpy", "onnxruntime")
REPEATS = 10
#: seconds one library's measurement may take
TIMEOUT_S = 300.0
#: the thread budget of the BLAS and OpenMP runtimes (what a benchmark cell's worker sets)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _best_seconds(call: Callable[[], Any], repeats: int = REPEATS) -> float:
    call()  # warm-up: threads, caches, kernel selection, compilation
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(library: str, threads: int) -> dict[int, float]:
    """GFLOP/s per size of ``library``'s GEMM (numpy, onnxruntime or a framework name) in
    this process."""
    if library == "onnxruntime":  # MLAS, through a one-node MatMul graph
        from triptych.bench.scale import ort_matmul_gflops

        return {n: ort_matmul_gflops(threads, n, REPEATS) for n in SIZES}
    rng = np.random.default_rng(0)
    out = {}
    for n in SIZES:
        a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
        if library == "numpy":
            call: Callable[[], Any] = lambda a=a, b=b: a @ b  # noqa: E731
        else:
            backend = get_backend(library)
            backend.set_threads(threads)
            call = backend.cpu_gemm(a, b)
        out[n] = 2.0 * n**3 / _best_seconds(call) / 1e9
    return out


def measure_all(threads: int, frameworks: list[str] | None = None) -> dict[str, Any]:
    """Every library's GFLOP/s per size (each in its own process; ``frameworks``: default
    every installed one) and the best of all: ``{"by_library": {lib: {size: gflops} |
    {"error": why}}, "best_gflops", "best_of"}``."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    env.update({var: str(threads) for var in THREAD_VARIABLES})  # read at the libraries' load
    by_library: dict[str, Any] = {}
    for lib in [*LIBRARIES, *(available() if frameworks is None else frameworks)]:
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "triptych.bench.gemm_peak", lib, str(threads)],
                capture_output=True,
                text=True,
                env=env,
                timeout=TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            by_library[lib] = {"error": f"no result within {TIMEOUT_S:.0f} s"}
            continue
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not lines:
            tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            by_library[lib] = {"error": tail[0][:300]}
        else:
            by_library[lib] = json.loads(lines[-1][len("RESULT ") :])
    ok = {lib: max(v.values()) for lib, v in by_library.items() if "error" not in v}
    best_of = max(ok, key=ok.__getitem__) if ok else None
    return {
        "sizes": list(SIZES),
        "by_library": by_library,
        "best_gflops": ok[best_of] if best_of else None,
        "best_of": best_of,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    library, threads = args[0], int(args[1])
    result = measure(library, threads)
    print("RESULT " + json.dumps({str(k): v for k, v in result.items()}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
