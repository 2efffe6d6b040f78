"""`triptych transfer`: the transfer-learning table (scratch, freeze policies, AE init; k
labels per class; mean ± std over seeds; per framework; two variations). Writes
transfer.json and transfer.md to --out (default benchmarks/)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.progress import Progress

from triptych.commands import options
from triptych.common.console import console
from triptych.common.weights import write_text_atomic
from triptych.frameworks.base import available
from triptych.training.transfer_table import QUICK, TableConfig, cell_count, markdown, run_table


def add_parser(sub: Any) -> None:
    p = sub.add_parser("transfer", help="the transfer-learning table", description=__doc__)
    options.add_frameworks_option(p)
    p.add_argument("--quick", action="store_true", help="k 5 and all, one seed, 4 variants")
    p.add_argument("--out", default="benchmarks", help="output directory (default benchmarks/)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    fws = args.frameworks or available()
    config = QUICK if args.quick else TableConfig()
    con = console()
    with Progress(console=con, transient=True) as bar:
        task = bar.add_task("transfer table", total=cell_count(fws, config))
        table = run_table(
            fws, config, lambda cell: bar.update(task, advance=1, description=cell.label)
        )
    out = Path(args.out)
    text = json.dumps(table.to_dict(), indent=1)
    write_text_atomic(out / "transfer.json", text)
    md = markdown(table)
    write_text_atomic(out / "transfer.md", md)
    con.print(md)
    con.print(f"written: {out / 'transfer.md'}, {out / 'transfer.json'}")
    return 0
