"""The facts `triptych info` shows and every run records: versions of triptych, Python,
numpy, ONNX and ONNX Runtime, each framework (or why it is absent) and the devices it can run
on (a GPU with its name where the framework sees one), the ORT providers (and
whether CUDA really loads), the CPU and the measured fp32 matmul peak."""

from __future__ import annotations

import platform
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from triptych.common import machine
from triptych.common.version import __version__
from triptych.export.ort import cuda_loads
from triptych.frameworks.base import FRAMEWORKS, get_backend, unavailable_reason


def collect(measure_peak: bool = True) -> dict[str, Any]:
    """Every fact as a JSON-ready dict; ``measure_peak`` runs the ~1 s matmul measurement."""
    fws = {}
    for name, fw in FRAMEWORKS.items():
        reason = unavailable_reason(name)
        fws[name] = (
            {"available": False, "reason": reason}
            if reason
            else {
                "available": True,
                "version": get_backend(name).version(),
                "display": fw.display,
                "devices": get_backend(name).devices(),
                "notes": get_backend(name).notes(),
            }
        )
    return {
        "triptych": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "ort_available_providers": ort.get_available_providers(),
        "ort_cuda_loads": cuda_loads(),
        "frameworks": fws,
        "cpu": machine.cpu_name(),
        "cores": machine.cpu_count(),
        "matmul_peak_gflops": machine.matmul_peak_gflops() if measure_peak else None,
    }
