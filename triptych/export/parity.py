"""The parity matrix: does every path compute the same function?

From one set of canonical weights (``init_weights(spec, seed)``), for every framework and
network, on seeded inputs at each batch size (default 1 and 37, through the same file):
  1. native vs ONNX Runtime on that framework's exported file;
  2. ONNX Runtime vs ``onnx.reference.ReferenceEvaluator`` (an independent implementation);
  3. cross-framework, every pair, native and through ONNX;
  4. training parity (`training_parity`), when ``train_steps`` > 0 and 2+ frameworks.
Every check is kept; the report is truthy only when there were checks and all passed.
"""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from triptych.common.compare import Comparison, compare_outputs
from triptych.common.data import noise_stream
from triptych.common.init import init_weights
from triptych.common.spec import ModelSpec
from triptych.common.tolerances import tolerance_for
from triptych.export.training_parity import TrainingParity, training_parity

LEVELS = {1: "native vs ORT", 2: "ORT vs reference", 3: "cross-framework", 4: "training"}


@dataclass
class Check:
    level: int
    network: str
    batch: int
    a: str
    b: str
    comparison: Comparison

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "kind": LEVELS[self.level],
            "network": self.network,
            "batch": self.batch,
            "a": self.a,
            "b": self.b,
            "comparison": self.comparison.to_dict(),
        }


@dataclass
class ParityReport:
    """All checks of one model; truthy when there were checks and every one passed."""

    model: str
    spec_hash: str
    frameworks: list[str]
    absent: dict[str, str] = field(default_factory=dict)
    providers: list[str] = field(default_factory=list)
    files: dict[str, dict[str, str]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    training: TrainingParity | None = None

    def __bool__(self) -> bool:
        ok = bool(self.checks) and all(c.comparison for c in self.checks)
        return ok and (self.training is None or bool(self.training))

    def failures(self) -> list[str]:
        lines = [] if self.checks else [f"{self.model}: nothing was compared"]
        for c in self.checks:
            if not c.comparison:
                lines += [
                    f"L{c.level} {c.network} b{c.batch} {c.a} vs {c.b}: {f}"
                    for f in c.comparison.failures()
                ]
        if self.training is not None:
            lines += self.training.failures()
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "spec_hash": self.spec_hash,
            "passed": bool(self),
            "frameworks": self.frameworks,
            "absent": self.absent,
            "providers": self.providers,
            "files": self.files,
            "checks": [c.to_dict() for c in self.checks],
            "training": None if self.training is None else self.training.to_dict(),
        }

    def __str__(self) -> str:
        rows = [f"parity {self.model} ({self.spec_hash}): {'PASS' if self else 'FAIL'}"]
        for c in self.checks:
            cmp = c.comparison
            rows.append(
                f"  L{c.level} {c.network:<14} b{c.batch:<3} {c.a:>22} vs {c.b:<22} "
                f"max|diff| {cmp.max_abs:.2e}  {'ok' if cmp else 'FAIL'}"
            )
        if self.training is not None:
            for pair, p in self.training.pairs.items():
                rows.append(
                    f"  L4 training {pair}: max loss rel diff {p['max_rel_loss']:.2e},"
                    f" final weights max|diff| {p['final_weights_max_abs']:.2e} "
                    f"({p['worst_weight']}), BN running stats max|diff| "
                    f"{p['running_stats_max_abs']:.2e}"
                )
        return "\n".join(rows + [f"  ! {f}" for f in self.failures()])


def parity_inputs(spec: ModelSpec, network: str, batch: int, seed: int) -> np.ndarray:
    shape = (batch, *spec.networks[network].input_shape)
    rng = noise_stream(seed, f"parity/{network}/{batch}")
    x = rng.random(shape) if len(shape) == 4 else rng.standard_normal(shape)
    return x.astype(np.float32)


def run_parity(
    spec: ModelSpec,
    frameworks: list[str],
    *,
    seed: int = 0,
    atol: float | None = None,
    rtol: float | None = None,
    batches: tuple[int, ...] = (1, 37),
    out_dir: str | Path | None = None,
    provider: str = "auto",
    strict_provider: bool = False,
    opset: int = 18,
    exporters: dict[str, str] | None = None,
    reference: bool = True,
    train_steps: int = 20,
    absent: dict[str, str] | None = None,
) -> ParityReport:
    """Levels 1-4 for ``spec`` over ``frameworks``; ONNX files go to ``out_dir`` (or a
    temporary directory, removed afterwards). ``exporters`` picks an exporter per framework,
    e.g. ``{"torch": "torchscript"}``."""
    from triptych.export.onnx_export import export_model, load_checked
    from triptych.export.ort import make_session
    from triptych.export.runners import run_ort, run_reference
    from triptych.model import Model

    report = ParityReport(spec.name, spec.hash, list(frameworks), dict(absent or {}))
    weights = init_weights(spec, seed)
    native: dict[tuple[str, str, int], np.ndarray] = {}
    ort: dict[tuple[str, str, int], np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(out_dir) if out_dir else Path(tmp)
        for fw in frameworks:
            model = Model(spec, fw, weights=weights)
            paths = export_model(model, root, opset=opset, exporter=(exporters or {}).get(fw))
            report.files[fw] = {n: str(p) for n, p in paths.items()}
            for net, path in paths.items():
                proto = load_checked(path)
                sess = make_session(path, provider=provider, strict=strict_provider)
                report.providers = sess.get_providers()
                tol = tolerance_for(spec.name, net, atol, rtol)
                for b in batches:
                    x = parity_inputs(spec, net, b, seed)
                    key = (fw, net, b)
                    native[key] = model.forward(x, net)
                    ort[key] = run_ort(sess, x, f"{path}")
                    report.checks.append(
                        Check(
                            1,
                            net,
                            b,
                            f"{fw} native",
                            f"{fw} ORT",
                            _cmp(native[key], ort[key], tol, net),
                        )
                    )
                    if reference:
                        ref = run_reference(proto, x, f"{path} (reference)")
                        report.checks.append(
                            Check(
                                2,
                                net,
                                b,
                                f"{fw} ORT",
                                f"{fw} reference",
                                _cmp(ort[key], ref, tol, net),
                            )
                        )
        for a, b_fw in itertools.combinations(frameworks, 2):
            for net in spec.networks:
                tol = tolerance_for(spec.name, net, atol, rtol)
                for b in batches:
                    report.checks.append(
                        Check(
                            3,
                            net,
                            b,
                            f"{a} native",
                            f"{b_fw} native",
                            _cmp(native[(a, net, b)], native[(b_fw, net, b)], tol, net),
                        )
                    )
                    report.checks.append(
                        Check(
                            3,
                            net,
                            b,
                            f"{a} ORT",
                            f"{b_fw} ORT",
                            _cmp(ort[(a, net, b)], ort[(b_fw, net, b)], tol, net),
                        )
                    )
    if train_steps > 0 and len(frameworks) >= 2:
        report.training = training_parity(spec, frameworks, steps=train_steps, seed=seed)
    return report


def _cmp(a: np.ndarray, b: np.ndarray, tol: Any, name: str) -> Comparison:
    return compare_outputs({name: a}, {name: b}, tol.atol, tol.rtol, label=name)


def parity(
    model: str | ModelSpec, frameworks: list[str] | None = None, seed: int = 0, **kwargs: Any
) -> ParityReport:
    """`run_parity` for a zoo name, a spec file (.json), a checkpoint (.safetensors) or a
    `ModelSpec`, over ``frameworks`` (default: every usable one; absent ones are recorded)."""
    from triptych.frameworks.base import select
    from triptych.model import resolve_spec

    spec = resolve_spec(model)
    usable, absent = select(frameworks)
    if frameworks:  # only what was asked for counts as absent here
        absent = {fw: r for fw, r in absent.items() if not r.startswith("not selected")}
    if not usable:
        raise ValueError(f"no usable framework among {frameworks or 'all'}: {absent}")
    return run_parity(spec, usable, seed=seed, absent=absent, **kwargs)
