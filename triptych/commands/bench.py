"""`triptych bench`: fair cross-framework benchmarks, one subprocess per cell.

Each cell (model × framework × mode × batch × variant) gets the same thread budget in every
framework and in ONNX Runtime; warm-up runs are excluded; medians, IQR, p90/p99, samples/s,
peak RSS, GFLOP/s and the fraction of the machine's measured matmul peak. Writes bench.json
(every sample + environment), bench.csv, bench.md and PNG plots to --out.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any


def _csv(kind: type) -> Any:
    return lambda text: [kind(v) for v in text.split(",") if v.strip()]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("bench", help="cross-framework benchmarks", description=__doc__)
    p.add_argument("models", nargs="*", help="zoo models (default: all)")
    p.add_argument(
        "-f",
        "--framework",
        action="append",
        dest="frameworks",
        metavar="FW",
        help="framework (repeatable; default every installed one)",
    )
    p.add_argument(
        "--mode",
        type=_csv(str),
        default=["train", "infer", "ort"],
        help="train,infer,ort (default all)",
    )
    p.add_argument(
        "--batch", type=_csv(int), default=[1, 8, 64, 256], help="batch sizes (default 1,8,64,256)"
    )
    p.add_argument(
        "--variant",
        type=_csv(str),
        default=["default", "tuned"],
        help="default,tuned (default both)",
    )
    p.add_argument("--threads", type=int, default=2, help="threads per cell (default 2)")
    p.add_argument("--repeats", type=int, default=20, help="timed repeats (default 20)")
    p.add_argument("--suite", help="a suite JSON file (overrides the options above)")
    p.add_argument("--no-overhead", action="store_true", help="skip the harness overhead")
    p.add_argument("--out", default="benchmarks/results", help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    import triptych
    from triptych.bench.cell import expand, load_suite
    from triptych.bench.report import write_all
    from triptych.bench.runner import environment, run_cells
    from triptych.common import machine, zoo
    from triptych.frameworks.base import resolve
    from triptych.report.console import console

    if args.suite:
        s = load_suite(args.suite)
        models, fws = s["models"], [resolve(f) for f in s["frameworks"]]
        modes, batches, variants = s["modes"], s["batches"], s["variants"]
        threads, repeats = s["threads"], s["repeats"]
    else:
        models = args.models or zoo.names()
        fws = [resolve(f) for f in args.frameworks] if args.frameworks else triptych.frameworks()
        modes, batches, variants = args.mode, args.batch, args.variant
        threads, repeats = args.threads, args.repeats
    for m in models:
        zoo.entry(m)  # unknown model: ValueError listing the zoo
    cells = expand(models, fws, modes, batches, variants, threads, repeats)
    peak = machine.matmul_peak_gflops()
    con = console()
    with Progress(console=con) as bar:
        task = bar.add_task("benchmark cells", total=len(cells))
        results = run_cells(
            cells,
            peak,
            lambda r: bar.update(
                task,
                advance=1,
                description=f"{r['cell']['model']} {r['cell']['framework']} "
                f"{r['cell']['mode']} b{r['cell']['batch']}",
            ),
        )
    extra: dict[str, Any] = {}
    if not args.no_overhead:
        extra["overhead"] = [_overhead(fw, "conv_autoencoder", 64, threads) for fw in fws]
    command = (
        "triptych " + " ".join(shlex.quote(a) for a in sys.argv[2:])
        if sys.argv[1:2] == ["bench"]
        else "triptych bench"
    )
    paths = write_all(results, environment(threads, peak), Path(args.out), command, extra)
    con.print(Path(paths["md"]).read_text().split("## Targets", 1)[-1])
    con.print(f"written: {', '.join(str(p) for p in paths.values())}")
    return 0


def _overhead(framework: str, model: str, batch: int, threads: int) -> dict[str, Any]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "triptych.bench.overhead",
            framework,
            model,
            str(batch),
            str(threads),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if not lines:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return {"framework": framework, "model": model, "error": tail[0]}
    return json.loads(lines[-1][7:])
