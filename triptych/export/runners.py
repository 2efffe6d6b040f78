"""Run ONNX files: through ONNX Runtime and through ``onnx.reference.ReferenceEvaluator``.

Inputs are validated against the model before running (Polygraphy style): the input name,
rank, fixed dimensions and dtype; a mismatch raises `ValueError` naming expected and given.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx


def _expected(inp: Any) -> tuple[str, list[int | str]]:
    return inp.name, list(inp.shape)


def check_feed(inputs: list[tuple[str, list[Any]]], x: np.ndarray, where: str) -> None:
    """Validate one float32 array against the model's single input."""
    if len(inputs) != 1:
        raise ValueError(
            f"{where}: expected a model with one input, it has {[n for n, _ in inputs]}"
        )
    name, shape = inputs[0]
    if x.dtype != np.float32:
        raise ValueError(f"{where}: input {name!r} is float32, got {x.dtype}")
    fixed = [d if isinstance(d, int) and d > 0 else None for d in shape]
    if x.ndim != len(shape) or any(
        f is not None and f != s for f, s in zip(fixed, x.shape, strict=False)
    ):
        want = ", ".join(str(d) if d not in (None, 0, "") else "?" for d in shape)
        raise ValueError(f"{where}: input {name!r} expects shape ({want}), got {x.shape}")


def session_inputs(session: Any) -> list[tuple[str, list[Any]]]:
    return [_expected(i) for i in session.get_inputs()]


def proto_inputs(model: onnx.ModelProto) -> list[tuple[str, list[Any]]]:
    inits = {i.name for i in model.graph.initializer}
    out = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        dims = [
            d.dim_value if d.HasField("dim_value") else d.dim_param
            for d in vi.type.tensor_type.shape.dim
        ]
        out.append((vi.name, dims))
    return out


def run_ort(session: Any, x: np.ndarray, where: str = "onnxruntime") -> np.ndarray:
    """The single output of ``session`` on ``x`` after validating the feed."""
    check_feed(session_inputs(session), x, where)
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def run_reference(
    model: onnx.ModelProto, x: np.ndarray, where: str = "reference evaluator"
) -> np.ndarray:
    """The single output of ``onnx.reference.ReferenceEvaluator`` (pure numpy ONNX)."""
    from onnx.reference import ReferenceEvaluator

    inputs = proto_inputs(model)
    check_feed(inputs, x, where)
    y = ReferenceEvaluator(model).run(None, {inputs[0][0]: x})[0]
    return np.asarray(y, dtype=np.float32)
