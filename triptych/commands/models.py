"""`triptych models`: the zoo, with shapes, parameters and FLOPs per network."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from triptych.common.console import console as make_console


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "models", help="the zoo with params and FLOPs per network", description=__doc__
    )
    p.add_argument("--layers", action="store_true", help="also list every layer")
    p.set_defaults(func=run)


def _si(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"


def run(args: argparse.Namespace) -> int:
    from triptych.common import zoo

    t = Table(title="triptych zoo (digits 1×8×8; FLOPs per sample, forward, MAC = 2 FLOPs)")
    for col in ("model", "network", "input", "output", "params", "FLOPs", "description"):
        t.add_column(
            col,
            justify="right" if col in ("params", "FLOPs") else "left",
            no_wrap=col != "description",
        )
    for name in zoo.names():
        spec = zoo.create_spec(name)
        for i, net in enumerate(spec.networks.values()):
            main = " (main)" if net.name in spec.main_chain else ""
            t.add_row(
                name if i == 0 else "",
                net.name + main,
                str(net.input_shape),
                str(net.output_shape),
                f"{net.params:,}",
                _si(net.flops),
                zoo.entry(name).description if i == 0 else "",
            )
            if args.layers:
                for info in net.infos:
                    t.add_row(
                        "",
                        f"  {info.index}: {info.layer.kind}",
                        str(info.input_shape),
                        str(info.output_shape),
                        f"{info.params:,}",
                        _si(info.flops),
                        "",
                    )
    make_console().print(t)
    return 0
