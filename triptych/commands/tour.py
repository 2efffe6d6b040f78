"""`triptych run`: the tour. For every zoo model in every installed framework, from the same
canonical weights: ONNX export, the parity matrix (native vs ORT, ORT vs reference,
cross-framework), training parity on the conv autoencoder, a safetensors round trip; then
every autoencoder and the GAN trained with their recipes, a transfer table and one served
request. Writes ``<out>/<timestamp>/`` (report.html, report.md, results.json, onnx/,
weights/, train/, plots); an interrupted run leaves no half-written directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from triptych.commands import options
from triptych.common.console import console as make_console
from triptych.frameworks.base import select
from triptych.report.sections import autoencoder_section, gan_section, parity_section
from triptych.report.tables import section_table
from triptych.tour.run import run_tour


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run", help="the tour: everything on the bundled data -> report", description=__doc__
    )
    options.add_frameworks_option(p)
    p.add_argument("--full", action="store_true", help="full recipes (default: quick ones)")
    p.add_argument("--out", default="runs", help="parent directory of the run (default runs/)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and inputs (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    console = make_console()
    chosen = select(args.frameworks)
    absent = {**chosen.absent, **dict.fromkeys(chosen.unselected, "not selected (--frameworks)")}
    if not chosen.usable:
        console.print(f"[red]no usable framework[/]: {absent}")
        return 2
    results, final = run_tour(
        chosen.usable, absent, Path(args.out), full=args.full, seed=args.seed, console=console
    )
    for section in (parity_section, autoencoder_section, gan_section):
        console.print(section_table(section(results)))
    for fw, why in absent.items():
        console.print(f"[yellow]absent[/] {fw}: {why}")
    console.print(f"report: {final / 'report.html'} (and report.md)")
    return 0 if results.passed else 1
