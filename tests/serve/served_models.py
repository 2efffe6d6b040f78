"""A served model around a stand-in session (the batching tests' 4-wide FP32 in and out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from triptych.serve.repository import ServedModel, TensorMeta


def four_wide(name: str, session: Any, run_s: float | None = None) -> ServedModel:
    """Version "1" of ``name``: input ``x`` and output ``y``, FP32 of shape (-1, 4), run by
    ``session``; ``run_s``: the measured seconds of a run (None: not measured)."""
    return ServedModel(
        name,
        "1",
        Path(f"{name}.onnx"),
        session,
        [TensorMeta("x", "FP32", [-1, 4])],
        [TensorMeta("y", "FP32", [-1, 4])],
        run_s=run_s,
    )
