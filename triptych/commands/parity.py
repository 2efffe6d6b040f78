"""`triptych parity MODEL|SPEC|CHECKPOINT`: the parity matrix, exit 1 when anything fails.

Levels: 1 native vs ONNX Runtime, 2 ORT vs the ONNX reference evaluator, 3 every framework
pair (native and ONNX), 4 step-by-step training (N SGD steps). ONNX files, the training
curve (PNG) and, with --json, the full results are written under --out.

With ``--onnx FILE`` the given file is checked against the model's native network instead.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.table import Table


def _batches(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--batch wants integers like 1,37; got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--batch sizes must be >= 1; got {text!r}")
    return values


def add_parser(sub: Any) -> None:
    p = sub.add_parser("parity", help="the cross-framework parity matrix", description=__doc__)
    p.add_argument("model", help="zoo name, spec .json or .safetensors checkpoint")
    p.add_argument(
        "-f",
        "--framework",
        action="append",
        dest="frameworks",
        metavar="FW",
        help="framework to include (repeatable; default every installed one)",
    )
    p.add_argument("--atol", type=float, help="absolute tolerance (default per model, 1e-5)")
    p.add_argument("--rtol", type=float, help="relative tolerance (default per model, 1e-4)")
    p.add_argument("--batch", type=_batches, default=(1, 37), help="batch sizes (default 1,37)")
    p.add_argument(
        "--train-steps",
        type=int,
        default=20,
        help="SGD steps of training parity, 0 to skip (default 20)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of weights and inputs (default 0)")
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
    p.add_argument("--onnx", metavar="FILE", help="check this ONNX file against the model")
    p.add_argument("--network", help="network of the model that --onnx holds")
    p.set_defaults(func=run)


def _exporters(items: list[str]) -> dict[str, str]:
    from triptych.frameworks.base import resolve

    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--exporter wants FW=NAME (e.g. torch=torchscript), got {item!r}")
        fw, name = item.split("=", 1)
        out[resolve(fw)] = name
    return out


def run(args: argparse.Namespace) -> int:
    from triptych.common.weights import write_text_atomic
    from triptych.export.ort import resolve_providers
    from triptych.export.parity import parity
    from triptych.model import resolve_spec
    from triptych.report.console import console
    from triptych.report.plots import plot_training_parity

    resolve_providers(args.provider, args.strict_provider)  # unknown provider: exit 2 early
    if args.onnx:
        return _check_file(args)
    spec = resolve_spec(args.model)
    out = Path(args.out or Path("runs") / "parity" / spec.name)
    report = parity(
        spec,
        args.frameworks,
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
    )
    con = console()
    con.print(checks_table(report))
    con.print(matrix_table(report))
    if report.training is not None:
        con.print(training_table(report.training))
        png = plot_training_parity(report.training, out / "training_parity.png")
        con.print(f"training curve: {png}")
    for fw, why in report.absent.items():
        con.print(f"[yellow]absent[/] {fw}: {why}")
    if args.json:
        text = json.dumps(report.to_dict(), indent=2)
        write_text_atomic(args.json, text)
    for line in report.failures():
        con.print(f"[red]FAIL[/] {line}")
    con.print(
        f"parity {spec.name}: "
        + ("[green]PASS[/]" if report else "[red]FAIL[/]")
        + f" ({len(report.checks)} checks, providers {', '.join(report.providers)})"
    )
    return 0 if report else 1


def _colour(value: float) -> str:
    style = "green" if value <= 1e-6 else "yellow" if value <= 1e-5 else "red"
    return f"[{style}]{value:.2e}[/]"


def checks_table(report: Any) -> Table:
    t = Table(title=f"parity {report.model}: levels 1-3 (max |diff| per check)")
    for col in ("level", "network", "batch", "a", "b", "max |diff|", "min rtol", "result"):
        t.add_column(col, no_wrap=True)
    for c in report.checks:
        o = c.comparison.outputs[0] if c.comparison.outputs else None
        t.add_row(
            f"L{c.level}",
            c.network,
            str(c.batch),
            c.a,
            c.b,
            _colour(c.comparison.max_abs),
            f"{o.min_rtol:.1e}" if o else "-",
            "[green]ok[/]" if c.comparison else "[red]FAIL[/]",
        )
    return t


def matrix_table(report: Any) -> Table:
    """framework × framework: worst max |diff| over networks and batches, native / ONNX."""
    fws = report.frameworks
    t = Table(title=f"{report.model}: cross-framework worst max |diff|, native / ONNX")
    t.add_column("")
    for fw in fws:
        t.add_column(fw, no_wrap=True)
    worst: dict[tuple[str, str, str], float] = {}
    for c in report.checks:
        if c.level == 3:
            a, kind = c.a.split(" ", 1)
            b = c.b.split(" ", 1)[0]
            for key in ((a, b, kind), (b, a, kind)):
                worst[key] = max(worst.get(key, 0.0), c.comparison.max_abs)
    for a in fws:
        cells = [
            "·"
            if a == b
            else f"{_colour(worst.get((a, b, 'native'), float('nan')))} / "
            f"{_colour(worst.get((a, b, 'ORT'), float('nan')))}"
            for b in fws
        ]
        t.add_row(a, *cells)
    return t


def training_table(training: Any) -> Table:
    t = Table(
        title=f"training parity: {training.steps} SGD steps (lr {training.lr}, batch "
        f"{training.batch}, {training.loss}), same weights, same batches"
    )
    for col in (
        "pair",
        "max loss rel diff",
        "worst step",
        "final weights max |diff|",
        "BN running stats max |diff|",
        "result",
    ):
        t.add_column(col, no_wrap=True)
    for pair, p in training.pairs.items():
        est = p["running_var_estimators"]
        note = "" if len(set(est.values())) == 1 else " (biased vs unbiased running_var)"
        t.add_row(
            pair,
            f"{p['max_rel_loss']:.2e}",
            str(p["worst_step"]),
            f"{p['final_weights_max_abs']:.2e} ({p['worst_weight']})",
            f"{p['running_stats_max_abs']:.2e}{note}",
            "[green]ok[/]" if p["passed"] else "[red]FAIL[/]",
        )
    return t


def _check_file(args: argparse.Namespace) -> int:
    """--onnx FILE: the file against the model's native network in each framework."""
    import triptych
    from triptych.common.compare import compare_outputs
    from triptych.common.tolerances import tolerance_for
    from triptych.export.onnx_export import load_checked, metadata
    from triptych.export.ort import make_session
    from triptych.export.parity import parity_inputs
    from triptych.export.runners import run_ort
    from triptych.model import Model, resolve_spec
    from triptych.report.console import console

    proto = load_checked(args.onnx)
    spec = resolve_spec(args.model)
    net = args.network or metadata(proto).get("network") or spec.main_chain[0]
    if net not in spec.networks:
        raise ValueError(
            f"model {spec.name!r} has no network {net!r}; networks: {', '.join(spec.networks)}"
        )
    sess = make_session(args.onnx, provider=args.provider, strict=args.strict_provider)
    tol = tolerance_for(spec.name, net, args.atol, args.rtol)
    ok = True
    for fw in args.frameworks or triptych.frameworks()[:1]:
        model = Model(spec, fw, seed=args.seed)
        for b in args.batch:
            x = parity_inputs(spec, net, b, args.seed)
            result = compare_outputs(
                {net: run_ort(sess, x, args.onnx)},
                {net: model.forward(x, net)},
                tol.atol,
                tol.rtol,
                label=f"{args.onnx} vs {fw} native b{b}",
            )
            console().print(str(result))
            ok &= bool(result)
    return 0 if ok else 1
