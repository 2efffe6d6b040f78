"""`triptych run`: the tour. Builds every zoo model in every installed framework from the same
canonical weights, checks they agree, round-trips the weights through safetensors, and
writes ``<out>/<timestamp>/`` (results.json, report.md, weights). It grows with the product.

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
    from triptych.common import zoo
    from triptych.common.compare import compare_outputs
    from triptych.crosscheck import compare_models

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
    failed = False
    try:
        names = zoo.names()
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("cross-framework checks", total=len(names) * len(fws))
            for name in names:
                built = {}
                for fw in fws:
                    bar.update(task, description=f"{name} · {fw}")
                    built[fw] = triptych.create(name, framework=fw, seed=args.seed)
                    bar.advance(task)
                ref = built[fws[0]]
                row: dict[str, Any] = {"params": ref.spec.param_count(), "pairs": {}}
                for fw in fws[1:]:
                    c = compare_models(built[fw], ref, batch=8, seed=args.seed)
                    row["pairs"][f"{fw} vs {fws[0]}"] = c.to_dict()
                    failed |= not c
                path = ref.save(work / "weights" / f"{name}.safetensors")
                back = {fw: triptych.load(path, framework=fw).get_weights() for fw in fws}
                rt = [
                    compare_outputs(w, ref.get_weights(), 0.0, 0.0, f"round trip {fw}")
                    for fw, w in back.items()
                ]
                row["weights_round_trip_exact"] = all(bool(c) for c in rt)
                failed |= not row["weights_round_trip_exact"]
                results["models"][name] = row
        (work / "results.json").write_text(json.dumps(results, indent=2, default=str))
        (work / "report.md").write_text(_markdown(results))
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    console.print(_summary(results))
    for fw, why in absent.items():
        console.print(f"[yellow]absent[/] {fw}: {why}")
    console.print(f"report: {final / 'report.md'}")
    return 1 if failed else 0


def _pairs(results: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (m, pair, c) for m, row in results["models"].items() for pair, c in row["pairs"].items()
    ]


def _summary(results: dict[str, Any]) -> Table:
    t = Table(title="cross-framework agreement (eval, same canonical weights, batch 8)")
    for col in ("model", "pair", "max |diff|", "result", "weights round trip"):
        t.add_column(col, no_wrap=True)
    for m, pair, c in _pairs(results):
        worst = max((o["max_abs"] for o in c["outputs"]), default=float("nan"))
        exact = results["models"][m]["weights_round_trip_exact"]
        t.add_row(
            m,
            pair,
            f"{worst:.2e}",
            "[green]pass[/]" if c["passed"] else "[red]FAIL[/]",
            "bitwise" if exact else "[red]differs[/]",
        )
    return t


def _markdown(results: dict[str, Any]) -> str:
    lines = ["# triptych run", "", f"Frameworks: {', '.join(results['frameworks'])}", ""]
    for fw, why in results["absent"].items():
        lines.append(f"- absent: **{fw}**: {why}")
    lines += [
        "",
        "## Cross-framework agreement",
        "",
        "| model | pair | max abs diff | pass |",
        "|---|---|---|---|",
    ]
    for m, pair, c in _pairs(results):
        worst = max((o["max_abs"] for o in c["outputs"]), default=float("nan"))
        lines.append(f"| {m} | {pair} | {worst:.2e} | {'yes' if c['passed'] else 'NO'} |")
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
