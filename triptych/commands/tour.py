"""`triptych run`: the tour. For every zoo model in every installed framework, from the same
canonical weights: ONNX export, the parity matrix (native vs ORT, ORT vs reference,
cross-framework), training parity on the conv autoencoder, and a safetensors round trip.
Writes ``<out>/<timestamp>/`` (results.json, report.md, onnx/, weights/, plots). It grows
with the product.

The run directory is assembled under a hidden temporary name and renamed into place at the
end, so an interrupted run leaves no half-written report.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

from rich.progress import Progress
from rich.table import Table

from triptych.report.console import console as make_console


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run", help="the tour: everything on the bundled data -> report", description=__doc__
    )
    p.add_argument(
        "--frameworks",
        "-f",
        nargs="+",
        metavar="FW",
        help="frameworks to use (default: every installed one)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", default=True, help="quick mode (default)")
    mode.add_argument("--full", action="store_true", help="full recipes")
    p.add_argument("--out", default="runs", help="parent directory of the run (default runs/)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and inputs (default 0)")
    p.set_defaults(func=run)


def _frameworks(requested: list[str] | None) -> tuple[list[str], dict[str, str]]:
    from triptych.frameworks.base import FRAMEWORKS, resolve, unavailable_reason

    names = [resolve(f) for f in requested] if requested else list(FRAMEWORKS)
    absent = {}
    for name in list(FRAMEWORKS):
        if name not in names:
            absent[name] = "not selected (--frameworks)"
        elif (reason := unavailable_reason(name)) is not None:
            absent[name] = reason
    return [n for n in names if n not in absent], absent


def run(args: argparse.Namespace) -> int:
    import triptych
    from triptych.commands.info import collect
    from triptych.commands.parity import matrix_table, training_table
    from triptych.common import zoo
    from triptych.common.compare import compare_outputs
    from triptych.export.parity import run_parity
    from triptych.report.plots import plot_training_parity

    console = make_console()
    fws, absent = _frameworks(args.frameworks)
    if not fws:
        console.print(f"[red]no usable framework[/]: {absent}")
        return 2
    stamp = time.strftime("%Y%m%d-%H%M%S")
    final = Path(args.out) / stamp
    work = Path(args.out) / f".{stamp}.partial"
    shutil.rmtree(work, ignore_errors=True)
    (work / "weights").mkdir(parents=True)
    results: dict[str, Any] = {
        "started": stamp,
        "frameworks": fws,
        "absent": absent,
        "machine": collect(measure_peak=True),
        "models": {},
    }
    failed, reports = False, {}
    try:
        names = zoo.names()
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("parity", total=len(names))
            for name in names:
                bar.update(task, description=f"export + parity · {name}")
                spec = zoo.create_spec(name)
                # training parity once, on the conv autoencoder (conv + BN + convT), 20 steps
                steps = 20 if name == "conv_autoencoder" else 0
                report = run_parity(
                    spec,
                    fws,
                    seed=args.seed,
                    out_dir=work / "onnx",
                    train_steps=steps,
                    absent=absent,
                )
                reports[name] = report
                row: dict[str, Any] = {"params": spec.param_count(), "parity": report.to_dict()}
                failed |= not report
                if report.training is not None:
                    plot_training_parity(report.training, work / f"training_parity_{name}.png")
                ref = triptych.create(spec, framework=fws[0], seed=args.seed)
                path = ref.save(work / "weights" / f"{name}.safetensors")
                rt = [
                    compare_outputs(
                        triptych.load(path, framework=fw).get_weights(), ref.get_weights(), 0.0, 0.0
                    )
                    for fw in fws
                ]
                row["weights_round_trip_exact"] = all(bool(c) for c in rt)
                failed |= not row["weights_round_trip_exact"]
                results["models"][name] = row
                bar.advance(task)
        (work / "results.json").write_text(json.dumps(results, indent=2, default=str))
        (work / "report.md").write_text(_markdown(results))
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    console.print(_summary(results))
    for report in reports.values():
        if len(fws) > 1:
            console.print(matrix_table(report))
        if report.training is not None:
            console.print(training_table(report.training))
    for fw, why in absent.items():
        console.print(f"[yellow]absent[/] {fw}: {why}")
    console.print(f"report: {final / 'report.md'}")
    return 1 if failed else 0


def _worst(parity: dict[str, Any], level: int) -> float:
    values = [
        c["comparison"]["outputs"][0]["max_abs"]
        for c in parity["checks"]
        if c["level"] == level and c["comparison"]["outputs"]
    ]
    return max(values, default=float("nan"))


def _summary(results: dict[str, Any]) -> Table:
    t = Table(title="parity per model (worst max |diff| per level; all frameworks, batch 1 and 37)")
    for col in (
        "model",
        "L1 native vs ORT",
        "L2 ORT vs reference",
        "L3 cross-framework",
        "L4 training",
        "weights round trip",
        "result",
    ):
        t.add_column(col, no_wrap=True)
    for m, row in results["models"].items():
        p = row["parity"]
        train = p["training"]
        l4 = (
            "-"
            if train is None
            else max((q["max_rel_loss"] for q in train["pairs"].values()), default=float("nan"))
        )
        t.add_row(
            m,
            *(f"{_worst(p, lv):.2e}" for lv in (1, 2, 3)),
            l4 if isinstance(l4, str) else f"{l4:.2e} rel",
            "bitwise" if row["weights_round_trip_exact"] else "[red]differs[/]",
            "[green]pass[/]" if p["passed"] else "[red]FAIL[/]",
        )
    return t


def _markdown(results: dict[str, Any]) -> str:
    lines = ["# triptych run", "", f"Frameworks: {', '.join(results['frameworks'])}", ""]
    for fw, why in results["absent"].items():
        lines.append(f"- absent: **{fw}**: {why}")
    lines += [
        "",
        "## Parity",
        "",
        "Worst max |diff| per level over every network, framework (pair) and batch (1 and 37).",
        "",
        "| model | L1 native vs ORT | L2 ORT vs reference | L3 cross-framework | pass |",
        "|---|---|---|---|---|",
    ]
    for m, row in results["models"].items():
        p = row["parity"]
        lines.append(
            f"| {m} | {_worst(p, 1):.2e} | {_worst(p, 2):.2e} | {_worst(p, 3):.2e} | "
            f"{'yes' if p['passed'] else 'NO'} |"
        )
    for m, row in results["models"].items():
        train = row["parity"]["training"]
        if train:
            lines += [
                "",
                f"## Training parity ({m}, {train['steps']} SGD steps)",
                "",
                "| pair | max loss rel diff | final weights max abs diff |",
                "|---|---|---|",
            ]
            for pair, q in train["pairs"].items():
                lines.append(
                    f"| {pair} | {q['max_rel_loss']:.2e} | {q['final_weights_max_abs']:.2e} |"
                )
            lines += ["", f"![training parity](training_parity_{m}.png)"]
    mach = results["machine"]
    lines += [
        "",
        "## Machine",
        "",
        f"- CPU: {mach['cpu']} ({mach['cores']} cores)",
        f"- fp32 matmul peak: {mach['matmul_peak_gflops']:.1f} GFLOP/s",
        "",
    ]
    return "\n".join(lines)
