"""The run's fp32 peak: the best GFLOP/s of square fp32 GEMMs in numpy (its BLAS), PyTorch
(MKL/oneDNN) and MXNet's oneDNN FullyConnected, and ONNX Runtime's MLAS, over a few sizes, on
the threads a cell uses. A library that is absent is skipped. Each runs in its own process
with the thread variables set, so nothing leaks between them or into the caller:
``python -m triptych.bench.peak LIBRARY THREADS`` prints ``RESULT {size: GFLOP/s}``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

#: square matrix sizes; the best over them is the library's peak
SIZES = (512, 1024, 2048)
LIBRARIES = ("numpy", "torch", "mxnet_onednn", "onnxruntime")
REPEATS = 10


def _best_seconds(call: Callable[[], Any], repeats: int = REPEATS) -> float:
    call()  # warm-up: threads, caches, kernel selection
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best


def _gemm(library: str, n: int, threads: int) -> Callable[[], Any]:
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    if library == "numpy":
        return lambda: a @ b
    if library == "torch":
        import torch

        torch.set_num_threads(threads)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        return lambda: torch.mm(ta, tb)
    if library == "mxnet_onednn":
        from triptych.frameworks.mxnet.compat import ONEDNN, mx

        if not ONEDNN:
            raise RuntimeError("MXNet's oneDNN is off on this CPU (onednn_policy)")
        x, w = mx.nd.array(a), mx.nd.array(b)

        def fc() -> None:
            mx.nd.FullyConnected(x, w, num_hidden=n, no_bias=True).wait_to_read()

        return fc
    raise ValueError(f"unknown library {library!r}; allowed: {', '.join(LIBRARIES)}")


def measure(library: str, threads: int) -> dict[int, float]:
    """GFLOP/s per size of ``library``'s GEMM in this process."""
    if library == "onnxruntime":  # MLAS, through a one-node MatMul graph
        from triptych.bench.scale import ort_matmul_gflops

        return {n: ort_matmul_gflops(threads, n, REPEATS) for n in SIZES}
    return {n: 2.0 * n**3 / _best_seconds(_gemm(library, n, threads)) / 1e9 for n in SIZES}


def measure_all(threads: int) -> dict[str, Any]:
    """Every library's GFLOP/s per size (each in its own process) and the best of all:
    ``{"by_library": {lib: {size: gflops} | {"error": why}}, "best_gflops", "best_of"}``."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "MXNET_CPU_WORKER_NTHREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONWARNINGS": "ignore",
    }
    by_library: dict[str, Any] = {}
    for lib in LIBRARIES:
        proc = subprocess.run(
            [sys.executable, "-m", "triptych.bench.peak", lib, str(threads)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
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
