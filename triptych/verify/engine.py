"""The parity engine: builds the runners for a model (or a file), asks each level for its
pairs, runs them, and returns one `ParityReport`.

From one set of canonical weights (a checkpoint's own, or ``init_weights(spec, seed)``), for
every framework and network, on seeded probe batches at each batch size (default 1 and 37,
through the same file): levels 1-3 (`triptych.verify.levels`) and level 4, training parity
(`triptych.verify.training`), when ``train_steps`` > 0 and two or more frameworks are used.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from triptych.common.init import init_weights
from triptych.common.spec import ModelSpec
from triptych.common.tolerances import tolerance_for
from triptych.export.onnx_export import export_model
from triptych.frameworks.base import select
from triptych.model import Model, resolve_source
from triptych.verify import levels
from triptych.verify.checks import ParityReport
from triptych.verify.gan import GAN_SGD, LECTURE_ADAM, gan_training_parity, is_adversarial
from triptych.verify.inputs import probe_for
from triptych.verify.reference64 import native_oracle
from triptych.verify.runners import NativeRunner, OrtRunner, ReferenceRunner
from triptych.verify.training import SGD_LR_OVERRIDES, training_parity


def run_parity(
    spec: ModelSpec,
    frameworks: list[str],
    *,
    weights: dict[str, np.ndarray] | None = None,
    seed: int = 0,
    atol: float | None = None,
    rtol: float | None = None,
    batches: tuple[int, ...] = (1, 37),
    out_dir: str | os.PathLike | None = None,
    provider: str = "auto",
    strict_provider: bool = False,
    opset: int = 18,
    exporters: dict[str, str] | None = None,
    reference: bool = True,
    train_steps: int = 20,
    optimizer: str | None = None,
    absent: dict[str, str] | None = None,
) -> ParityReport:
    """Levels 1-4 for ``spec`` over ``frameworks`` from ``weights`` (default: seeded
    initial weights). ONNX files go to ``out_dir`` (or a temporary directory, removed
    afterwards); ``exporters`` picks an exporter per framework, e.g. ``{"torch":
    "torchscript"}``. Level 4 uses ``optimizer`` (sgd at lr 0.1 by default, adam at 1e-3);
    a GAN's alternating rounds use the lecture's Adam unless ``optimizer`` is "sgd"."""
    report = ParityReport(spec.name, spec.hash, list(frameworks), dict(absent or {}))
    report.weights_source = "seed" if weights is None else "given"
    start = init_weights(spec, seed) if weights is None else weights
    native: levels.RunnerTable = {}
    ort: levels.RunnerTable = {}
    ref: levels.RunnerTable = {}
    derived = atol is None and rtol is None  # bounds from the float64 oracle
    oracles: dict[str, Model] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(out_dir) if out_dir else Path(tmp)
        for fw in frameworks:
            model = Model(spec, fw, weights=start)
            if derived:
                oracles[fw] = Model(spec, fw, weights=start, dtype="float64")
            paths = export_model(model, root, opset=opset, exporter=(exporters or {}).get(fw))
            report.files[fw] = {n: str(p) for n, p in paths.items()}
            native[fw] = {n: NativeRunner(model, n) for n in paths}
            ort[fw] = {
                n: OrtRunner(p, n, fw, provider=provider, strict=strict_provider)
                for n, p in paths.items()
            }
            if reference:
                ref[fw] = {n: ReferenceRunner(p, n, fw) for n, p in paths.items()}
        report.providers = sorted({r.id.provider for t in ort.values() for r in t.values()})
        pairs = (
            levels.native_vs_ort(native, ort)
            + levels.ort_vs_reference(ort, ref)
            + levels.cross_framework(native, ort)
        )
        report.checks = levels.run_pairs(
            pairs,
            batches,
            seed,
            lambda net, batch: probe_for(spec.networks[net], batch, seed, net),
            lambda net: tolerance_for(spec.name, net, atol, rtol),
            native_oracle(oracles) if derived else None,
        )
    if not reference:
        report.skipped.append("level 2 (ORT vs reference evaluator): --no-reference")
    if train_steps > 0 and len(frameworks) >= 2:
        name = optimizer or "sgd"
        report.training, checks = training_parity(
            spec, frameworks, steps=train_steps,
            lr=SGD_LR_OVERRIDES.get(spec.name, 0.1) if name == "sgd" else 1e-3,
            seed=seed, weights=start, optimizer=name,
        )  # fmt: skip
        report.checks += checks
        if is_adversarial(spec):
            gan_opt = GAN_SGD if optimizer == "sgd" else LECTURE_ADAM
            report.gan_training, checks = gan_training_parity(
                spec, frameworks, rounds=train_steps, seed=seed, weights=start, optimizer=gan_opt
            )
            report.checks += checks
    elif train_steps > 0:
        report.skipped.append(f"level 4 (training): needs two frameworks, had {frameworks}")
    return report


def frameworks_to_check(frameworks: list[str] | None) -> tuple[list[str], dict[str, str]]:
    """(usable frameworks, asked-for ones that are absent -> why); `ValueError` if none."""
    chosen = select(frameworks)
    if not chosen.usable:
        raise ValueError(f"no usable framework among {frameworks or 'all'}: {chosen.absent}")
    return chosen.usable, chosen.absent


def parity(
    model: str | os.PathLike | ModelSpec,
    frameworks: list[str] | None = None,
    seed: int = 0,
    **kwargs: Any,
) -> ParityReport:
    """`run_parity` for a zoo name, a spec file (.json), a checkpoint (.safetensors, whose
    own weights are what every level checks) or a `ModelSpec`, over ``frameworks``
    (default: every usable one; absent ones are recorded)."""
    spec, weights = resolve_source(model)
    usable, absent = frameworks_to_check(frameworks)
    report = run_parity(spec, usable, seed=seed, absent=absent, weights=weights, **kwargs)
    if weights is not None:
        report.weights_source = str(model)
    return report
