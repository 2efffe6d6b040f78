"""Facts about this machine: CPU, cores, and the measured fp32 matmul peak."""

from __future__ import annotations

import contextlib
import os
import platform
import time

import numpy as np


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux) or `platform.processor()`."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_count() -> int:
    """Cores this process may use (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def matmul_peak_gflops(n: int = 1024, repeats: int = 10) -> float:
    """Best achieved fp32 GFLOP/s of an n×n @ n×n numpy matmul (2·n³ FLOPs), default n 1024.

    numpy's BLAS uses every core it may; this is the reference "peak" that benchmark cells
    report their fraction of.
    """
    rng = np.random.Generator(np.random.PCG64(0))
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    a @ b  # warm-up: threads and caches
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9
