"""Checks of one ONNX file: against a model's native builds (``parity MODEL --onnx FILE``),
or on its own when there is no spec (``parity --onnx FILE``): ONNX Runtime against the
reference evaluator and ORT with basic against all graph optimisations, at batch 1 and at a
second batch size when the batch axis is dynamic. Unless a tolerance is given, the bound is
derived from float64: the file evaluated in float64 by the reference evaluator
(`triptych.verify.reference64`) and each framework's float64 build."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx

from triptych.common.init import init_weights
from triptych.common.spec import ModelSpec
from triptych.common.tolerances import DEFAULT, tolerance_for
from triptych.export.onnx_export import load_checked, metadata
from triptych.model import Model
from triptych.verify import levels
from triptych.verify.checks import ParityReport
from triptych.verify.inputs import probe_batch, probe_for
from triptych.verify.reference64 import file_oracle, native_oracle
from triptych.verify.runners import NativeRunner, OrtRunner, ReferenceRunner, proto_inputs


def file_vs_model(
    path: str | os.PathLike,
    spec: ModelSpec,
    frameworks: list[str],
    *,
    weights: dict[str, np.ndarray] | None = None,
    network: str | None = None,
    seed: int = 0,
    batches: tuple[int, ...] = (1, 37),
    atol: float | None = None,
    rtol: float | None = None,
    provider: str = "auto",
    strict_provider: bool = False,
    absent: dict[str, str] | None = None,
) -> ParityReport:
    """The file (through ORT) against ``network`` built in every one of ``frameworks`` from
    ``weights`` (a checkpoint's; default ``init_weights(spec, seed)``)."""
    proto = load_checked(path)
    net = network or metadata(proto).get("network") or spec.main_chain[0]
    if net not in spec.networks:
        raise ValueError(
            f"model {spec.name!r} has no network {net!r}; networks: {', '.join(spec.networks)}"
        )
    start = init_weights(spec, seed) if weights is None else weights
    file_runner = OrtRunner(path, net, provider=provider, strict=strict_provider)
    report = ParityReport(spec.name, spec.hash, list(frameworks), dict(absent or {}))
    report.weights_source = "seed" if weights is None else "given"
    report.providers = [file_runner.id.provider or ""]
    report.files = {"file": {net: str(path)}}
    pairs = [
        levels.Pair(1, net, file_runner, NativeRunner(Model(spec, fw, weights=start), net))
        for fw in frameworks
    ]
    derived = atol is None and rtol is None  # the file in float64 and each float64 build
    oracle = None
    if derived:
        builds = {fw: Model(spec, fw, weights=start, dtype="float64") for fw in frameworks}
        oracle = file_oracle(path, native_oracle(builds))
    report.checks = levels.run_pairs(
        pairs,
        batches,
        seed,
        lambda n, batch: probe_for(spec.networks[n], batch, seed, n),
        lambda n: tolerance_for(spec.name, n, atol, rtol),
        oracle,
    )
    return report


def file_alone(
    path: str | os.PathLike,
    *,
    seed: int = 0,
    second_batch: int = 37,
    atol: float | None = None,
    rtol: float | None = None,
    provider: str = "auto",
    strict_provider: bool = False,
) -> ParityReport:
    """What needs no spec: ORT vs the reference evaluator and ORT basic vs all graph
    optimisations, at batch 1 (and ``second_batch`` when the batch axis is dynamic).
    ``report.skipped`` says what was not checked and why."""
    path = Path(path)
    proto = load_checked(path)
    name = path.stem
    report = ParityReport(name, "-", [])
    report.files = {"file": {name: str(path)}}
    report.skipped.append(
        "levels 1, 3 and 4 (native builds, cross-framework, training) need a spec: "
        "give a model, or import the file"
    )
    inputs = proto_inputs(proto)
    if len(inputs) != 1:
        report.skipped.append(f"runs: the file has {len(inputs)} inputs; one is supported")
        return report
    input_name, dims = inputs[0]
    if any(not isinstance(d, int) or d <= 0 for d in dims[1:]):
        report.skipped.append(f"runs: input {input_name!r} has symbolic dims {dims[1:]}")
        return report
    # token ids of an unknown table: 0 and 1 (any embedding has two rows)
    first = next(v for v in proto.graph.input if v.name == input_name)
    vocab = 2 if first.type.tensor_type.elem_type == onnx.TensorProto.INT64 else None
    dynamic = not isinstance(dims[0], int) or dims[0] <= 0
    batches = (1, second_batch) if dynamic else (int(dims[0]),)
    if not dynamic:
        report.skipped.append(f"batch {second_batch}: the batch axis is fixed at {dims[0]}")
    all_opt = OrtRunner(path, name, provider=provider, strict=strict_provider)
    basic = OrtRunner(path, name, provider=provider, strict=strict_provider, opt_level="basic")
    reference = ReferenceRunner(path, name)
    report.providers = [all_opt.id.provider or ""]
    derived = atol is None and rtol is None  # against the file evaluated in float64
    tol = DEFAULT if derived else tolerance_for(name, name, atol, rtol)
    report.checks = levels.run_pairs(
        [levels.Pair(2, name, all_opt, reference), levels.Pair(2, name, basic, all_opt)],
        batches,
        seed,
        lambda _, batch: probe_batch(tuple(int(d) for d in dims[1:]), batch, seed, name, vocab),
        lambda _: tol,
        file_oracle(path) if derived else None,
    )
    return report
