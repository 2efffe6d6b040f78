"""`triptych parity [MODEL|SPEC|CHECKPOINT] [--onnx FILE]`: the parity matrix, exit 1 when
anything fails.

Levels: 1 native vs ONNX Runtime, 2 ORT vs the ONNX reference evaluator, 3 every framework
pair (native and ONNX), 4 step-by-step training (N SGD steps), 5 (--data-parallel N) N
data-parallel workers vs one process (loss per step, final weights; seeded weights; a
BatchNorm model's rows apart, per convention, --sync-bn adding the engine's synchronised BN
where it has one). A checkpoint's own weights are what levels 1-4 check. ONNX files, the
training curve (PNG) and, with --json, the full results are written under --out.

With ``--onnx FILE`` and a model, the file is checked against the model's network built in
every selected framework (with the checkpoint's weights when a checkpoint is given). With
``--onnx FILE`` alone (a file made elsewhere), what needs no spec: ORT vs the reference
evaluator and ORT basic vs all graph optimisations, at batch 1 and a second batch size.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from triptych.commands import options
from triptych.common.console import console
from triptych.common.spec import ModelSpec
from triptych.common.weights import write_text_atomic
from triptych.export.ort import resolve_providers
from triptych.frameworks.base import resolve
from triptych.model import resolve_source
from triptych.onnx_import import import_onnx
from triptych.report.parity_tables import (
    checks_table,
    drift_table,
    matrix_table,
    training_table,
)
from triptych.report.plots import plot_training_parity
from triptych.verify.checks import ParityReport
from triptych.verify.data_parallel import BN_NOTE, add_level5
from triptych.verify.engine import frameworks_to_check, run_parity
from triptych.verify.files import file_alone, file_vs_model


def add_parser(sub: Any) -> None:
    p = sub.add_parser("parity", help="the cross-framework parity matrix", description=__doc__)
    p.add_argument(
        "model", nargs="?", help="zoo name, spec .json or .safetensors checkpoint (or --onnx)"
    )
    options.add_frameworks_option(p)
    p.add_argument("--atol", type=options.optional_float("--atol"), help="absolute tolerance")
    p.add_argument("--rtol", type=options.optional_float("--rtol"), help="relative tolerance")
    p.add_argument(
        "--batch",
        type=options.comma_ints("--batch"),
        default=(1, 37),
        help="batch sizes (default 1,37)",
    )
    p.add_argument(
        "--train-steps",
        type=options.positive_int("--train-steps", minimum=0),
        default=20,
        help="steps of training parity, 0 to skip (default 20)",
    )
    p.add_argument(
        "--optimizer",
        choices=("sgd", "adam"),
        help="optimizer of training parity: sgd (lr 0.1, the default) or adam (triptych's "
        "one formula, lr 1e-3); a GAN's rounds use the lecture's Adam unless sgd is given",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of weights and inputs (default 0)")
    p.add_argument(
        "--data-parallel",
        type=options.positive_int("--data-parallel"),
        metavar="N",
        help="level 5: N data-parallel workers vs one process (--train-steps SGD steps, "
        "from seeded weights), per framework",
    )
    p.add_argument(
        "--sync-bn",
        action="store_true",
        help="level 5 on a model with BatchNorm: also run with the engine's synchronised "
        "BatchNorm where it has one (TensorFlow; torch's is GPU-only, MXNet's is in-process "
        "only: reported as not checked, with why)",
    )
    p.add_argument("--provider", default="auto", help="ORT provider: auto (default), cpu, cuda")
    p.add_argument(
        "--strict-provider",
        action="store_true",
        help="fail instead of falling back to CPU when the provider does not load",
    )
    p.add_argument(
        "--exporter",
        action="append",
        default=[],
        metavar="FW=NAME",
        help="exporter per framework, e.g. torch=torchscript",
    )
    p.add_argument("--no-reference", action="store_true", help="skip level 2 (slow on big nets)")
    p.add_argument(
        "--out", help="directory for ONNX files, curve and JSON (default runs/parity/<model>)"
    )
    p.add_argument("--json", metavar="PATH", help="write the full results as JSON")
    p.add_argument("--onnx", metavar="FILE", help="check this ONNX file (against the model)")
    p.add_argument("--network", help="network of the model that --onnx holds")
    p.add_argument(
        "--import",
        dest="import_onnx",
        action="store_true",
        help="with --onnx FILE and no model: import the file (triptych import) and check ORT on "
        "it against the imported spec built natively in every framework",
    )
    p.add_argument(
        "--levels",
        action="store_true",
        help="with --import: also run levels 1-4 on the imported spec and weights",
    )
    p.set_defaults(func=run)


def _exporters(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--exporter wants FW=NAME (e.g. torch=torchscript), got {item!r}")
        fw, name = item.split("=", 1)
        out[resolve(fw)] = name
    return out


def check(args: argparse.Namespace) -> ParityReport:
    """The report the arguments ask for (no printing)."""
    resolve_providers(args.provider, args.strict_provider)  # unknown provider: exit 2 early
    if args.model is None and not args.onnx:
        raise ValueError("give a MODEL (zoo name, spec .json or checkpoint) or --onnx FILE")
    if args.model is None and args.import_onnx:
        return _imported(args)
    if args.model is None:
        return file_alone(
            args.onnx,
            seed=args.seed,
            second_batch=max(args.batch),
            atol=args.atol,
            rtol=args.rtol,
            provider=args.provider,
            strict_provider=args.strict_provider,
        )
    spec, weights = resolve_source(args.model)
    frameworks, absent = frameworks_to_check(args.frameworks)
    if args.onnx:
        report = _file(args, spec, weights, frameworks, absent, args.network)
    else:
        report = _matrix(args, spec, weights, frameworks, absent)
        if args.data_parallel:  # level 5, from seeded weights
            add_level5(report, spec, frameworks, args.data_parallel, args.train_steps or 5,
                       seed=args.seed, atol=args.atol, rtol=args.rtol,
                       sync_bn=args.sync_bn)  # fmt: skip
    if weights is not None:
        report.weights_source = str(args.model)
    return report


def _imported(args: argparse.Namespace) -> ParityReport:
    """``--onnx FILE --import``: ORT on the file vs the imported spec's native builds, plus
    levels 1-4 on the imported spec with ``--levels``."""
    spec, weights = import_onnx(args.onnx)
    frameworks, absent = frameworks_to_check(args.frameworks)
    report = _file(args, spec, weights, frameworks, absent, spec.main_chain[0])
    if args.levels:
        matrix = _matrix(args, spec, weights, frameworks, absent)
        matrix.checks = report.checks + matrix.checks
        matrix.files = {**report.files, **matrix.files}
        report = matrix
    report.weights_source = f"imported from {args.onnx}"
    return report


def _file(
    args: argparse.Namespace,
    spec: ModelSpec,
    weights: dict[str, np.ndarray] | None,
    frameworks: list[str],
    absent: dict[str, str],
    network: str | None,
) -> ParityReport:
    """ORT on ``--onnx FILE`` against ``network`` built in every framework."""
    return file_vs_model(
        args.onnx,
        spec,
        frameworks,
        weights=weights,
        network=network,
        seed=args.seed,
        batches=args.batch,
        atol=args.atol,
        rtol=args.rtol,
        provider=args.provider,
        strict_provider=args.strict_provider,
        absent=absent,
    )


def _matrix(
    args: argparse.Namespace,
    spec: ModelSpec,
    weights: dict[str, np.ndarray] | None,
    frameworks: list[str],
    absent: dict[str, str],
) -> ParityReport:
    out = Path(args.out or Path("runs") / "parity" / spec.name)
    return run_parity(
        spec,
        frameworks,
        weights=weights,
        seed=args.seed,
        atol=args.atol,
        rtol=args.rtol,
        batches=args.batch,
        out_dir=out / "onnx",
        provider=args.provider,
        strict_provider=args.strict_provider,
        exporters=_exporters(args.exporter),
        reference=not args.no_reference,
        train_steps=args.train_steps,
        optimizer=args.optimizer,
        absent=absent,
    )


def _level5_table(report: ParityReport, batchnorm: bool) -> Table:
    """Level 5: one row per check (N workers vs one process). ``batchnorm``: the table of
    the runs whose model has BatchNorm, apart, each row naming the convention that ran
    (per-worker statistics, reported apart; or synchronised, which gates)."""
    title = f"parity {report.model}: level 5, data-parallel workers vs one process"
    t = Table(title=title + (" — BatchNorm, per convention" if batchnorm else ""))
    for col in ("what", "a", "b", "batch", "max |diff|", "max rel", "result", "note"):
        t.add_column(col, no_wrap=col != "note")
    for c in report.level(5):
        if (BN_NOTE in c.note) != batchnorm:
            continue
        result = "ok" if c.passed else ("FAIL" if c.gating else "apart")
        t.add_row(c.network, c.a.label, c.b.label, str(c.batch), f"{c.max_abs:.2e}",
                  f"{c.max_rel:.2e}", result, c.note)  # fmt: skip
    return t


def run(args: argparse.Namespace) -> int:
    report = check(args)
    con = console()
    con.print(checks_table(report))
    if report.level(3):
        con.print(matrix_table(report))
    if report.training is not None:
        con.print(training_table(report))
        if report.training.losses64:
            con.print(drift_table(report))
        name = report.model if args.model else Path(args.onnx).stem
        out = Path(args.out or Path("runs") / "parity" / name)
        png = plot_training_parity(report.training, out / "training_parity.png")
        con.print(f"training curve: {png}")
    for batchnorm in (False, True):
        if any((BN_NOTE in c.note) == batchnorm for c in report.level(5)):
            con.print(_level5_table(report, batchnorm))
    for fw, why in report.absent.items():
        con.print(f"[yellow]absent[/] {fw}: {why}")
    for what in report.skipped:
        con.print(f"[yellow]not checked[/] {what}")
    if args.json:
        write_text_atomic(args.json, json.dumps(report.to_dict(), indent=2))
    for line in report.failures():
        con.print(f"[red]FAIL[/] {line}")
    con.print(
        f"parity {report.model}: "
        + ("[green]PASS[/]" if report else "[red]FAIL[/]")
        + f" ({len(report.checks)} checks, weights: {report.weights_source}, "
        f"providers {', '.join(report.providers)})"
    )
    return 0 if report else 1
