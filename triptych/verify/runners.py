"""Runners: one object per way of computing a network, each with a structured identity
(`RunnerId`) and input validation before it runs (name, rank, fixed dimensions, dtype).

* `NativeRunner`: a `Model`'s network in its framework (eval mode);
* `OrtRunner`: an ONNX Runtime session on a file (the provider that really runs is recorded);
* `ReferenceRunner`: ``onnx.reference.ReferenceEvaluator``, an independent ONNX implementation.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnx

from triptych.common.spec import numpy_input_dtype
from triptych.export.onnx_export import load_checked
from triptych.export.ort import make_session
from triptych.export.reference_ops import reference_evaluator
from triptych.model import Model

KIND_LABELS = {"native": "native", "ort": "ORT", "reference": "reference", "train": "training"}


@dataclass(frozen=True)
class RunnerId:
    """Who computed an output: ``framework`` (None for a file made elsewhere), ``kind``
    (native, ort, reference, train), the ``network``, the ONNX ``file`` and ORT
    ``provider`` where there is one."""

    framework: str | None
    kind: str
    network: str
    file: str | None = None
    provider: str | None = None

    @property
    def label(self) -> str:
        """Short display label, e.g. ``torch native`` or ``mxnet ORT``."""
        owner = self.framework or (Path(self.file).name if self.file else "file")
        return f"{owner} {KIND_LABELS.get(self.kind, self.kind)}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label}


InputSpec = list[tuple[str, list[Any]]]  # (name, dims) with ints or symbolic names


class Runner(Protocol):
    id: RunnerId

    def inputs(self) -> InputSpec: ...
    def run(self, x: np.ndarray) -> np.ndarray: ...


def check_feed(inputs: InputSpec, x: np.ndarray, where: str, dtype: str = "float32") -> None:
    """Validate one batch of ``dtype`` (float32, or int64 token ids) against a single-input
    model; `ValueError` naming what was expected and what was given."""
    if len(inputs) != 1:
        raise ValueError(
            f"{where}: expected a model with one input, it has {[n for n, _ in inputs]}"
        )
    name, shape = inputs[0]
    if x.dtype != np.dtype(dtype):
        raise ValueError(f"{where}: input {name!r} is {dtype}, got {x.dtype}")
    fixed = [d if isinstance(d, int) and d > 0 else None for d in shape]
    if x.ndim != len(shape) or any(
        f is not None and f != s for f, s in zip(fixed, x.shape, strict=False)
    ):
        want = ", ".join(str(d) if d not in (None, 0, "") else "?" for d in shape)
        raise ValueError(f"{where}: input {name!r} expects shape ({want}), got {x.shape}")


def proto_inputs(model: onnx.ModelProto) -> InputSpec:
    """The graph inputs that are not initializers, with their dims."""
    inits = {i.name for i in model.graph.initializer}
    return [
        (
            vi.name,
            [
                d.dim_value if d.HasField("dim_value") else d.dim_param
                for d in vi.type.tensor_type.shape.dim
            ],
        )
        for vi in model.graph.input
        if vi.name not in inits
    ]


class NativeRunner:
    """``model``'s ``network`` in its own framework, eval mode."""

    def __init__(self, model: Model, network: str) -> None:
        self.model, self.network = model, network
        self.id = RunnerId(model.framework, "native", network)

    def inputs(self) -> InputSpec:
        return [(self.network, ["batch", *self.model.spec.networks[self.network].input_shape])]

    def run(self, x: np.ndarray) -> np.ndarray:
        net = self.model.spec.networks[self.network]
        dtype = numpy_input_dtype(net, "float32")
        check_feed(self.inputs(), x, f"{self.id.label} {self.network}", dtype)
        return self.model.forward(x, self.network)


class OrtRunner:
    """An ONNX Runtime session on ``path`` (provider auto|cpu|cuda, ``strict`` refuses a
    fallback; graph optimisation ``opt_level`` default all)."""

    def __init__(
        self,
        path: str | os.PathLike,
        network: str,
        framework: str | None = None,
        provider: str = "auto",
        strict: bool = False,
        opt_level: str = "all",
    ) -> None:
        self.path = Path(path)
        self.session = make_session(
            self.path, provider=provider, strict=strict, opt_level=opt_level
        )
        kind = "ort" if opt_level == "all" else f"ort-{opt_level}"
        self.id = RunnerId(
            framework, kind, network, str(self.path), self.session.get_providers()[0]
        )

    def inputs(self) -> InputSpec:
        return [(i.name, list(i.shape)) for i in self.session.get_inputs()]

    def run(self, x: np.ndarray) -> np.ndarray:
        ids = self.session.get_inputs()[0].type == "tensor(int64)"
        check_feed(self.inputs(), x, str(self.path), "int64" if ids else "float32")
        return self.session.run(None, {self.session.get_inputs()[0].name: x})[0]


class ReferenceRunner:
    """``onnx.reference.ReferenceEvaluator`` (pure numpy ONNX) on ``path``."""

    def __init__(self, path: str | os.PathLike, network: str, framework: str | None = None) -> None:
        self.path = Path(path)
        self.proto = load_checked(self.path)
        self.evaluator = reference_evaluator(self.proto)
        self.id = RunnerId(framework, "reference", network, str(self.path))

    def inputs(self) -> InputSpec:
        return proto_inputs(self.proto)

    def run(self, x: np.ndarray) -> np.ndarray:
        inputs = self.inputs()
        first = next(i for i in self.proto.graph.input if i.name == inputs[0][0])
        ids = first.type.tensor_type.elem_type == onnx.TensorProto.INT64
        check_feed(inputs, x, f"{self.path} (reference)", "int64" if ids else "float32")
        y = self.evaluator.run(None, {inputs[0][0]: x})[0]
        return np.asarray(y, dtype=np.float32)
