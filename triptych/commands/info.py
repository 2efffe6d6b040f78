"""`triptych info`: frameworks and versions, ONNX Runtime and providers, CPU, matmul peak."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.markup import escape
from rich.table import Table

from triptych.common.console import console as make_console
from triptych.common.weights import write_text_atomic
from triptych.info import collect


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "info", help="frameworks, versions, ORT providers, CPU, matmul peak", description=__doc__
    )
    p.add_argument("--no-peak", action="store_true", help="skip the matmul peak measurement")
    p.add_argument("--json", metavar="PATH", help="also write the facts as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    facts = collect(measure_peak=not args.no_peak)
    console = make_console()
    t = Table(title="triptych info")
    t.add_column("component")
    t.add_column("version / value")
    for key in ("triptych", "python", "numpy", "onnx", "onnxruntime"):
        t.add_row(key, facts[key])
    for name, fw in facts["frameworks"].items():
        if not fw["available"]:
            t.add_row(name, f"[red]absent[/]: {escape(fw['reason'])}")
        else:
            t.add_row(name, f"{fw['version']} on {', '.join(fw['devices'])}")
            for note in fw["notes"]:
                t.add_row("", escape(note))
    t.add_row("ORT providers offered", ", ".join(facts["ort_available_providers"]))
    t.add_row("ORT CUDA really loads", "yes" if facts["ort_cuda_loads"] else "no (CPU fallback)")
    t.add_row("CPU", f"{facts['cpu']} ({facts['cores']} cores usable)")
    if facts["matmul_peak_gflops"] is not None:
        t.add_row("fp32 matmul peak", f"{facts['matmul_peak_gflops']:.1f} GFLOP/s (numpy, 1024²)")
    console.print(t)
    if args.json:
        text = json.dumps(facts, indent=2)
        write_text_atomic(args.json, text)
    return 0
