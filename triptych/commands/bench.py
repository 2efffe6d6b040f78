"""`triptych bench`: fair cross-framework benchmarks, one subprocess per cell.

Each cell (model × framework × mode × batch × variant) gets the same thread budget in every
framework and in ONNX Runtime; warm-up runs are excluded; medians, IQR, p90/p99, samples/s,
peak RSS, GFLOP/s and the fraction of the machine's measured matmul peak. Writes bench.json
(every sample + environment), bench.csv, bench.md and PNG plots to --out.

Named suites: ``--suite scale`` (ResNet-18 at 32x32 and 224x224, DCGAN 28x28 and 64x64,
U-Net: scale.md/.json + plots, within --budget-min) and ``--suite ttq`` (time to quality on
MNIST-5k: time_to_quality.md/.json/.png).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.progress import Progress

from triptych.bench import provenance, publish, scale_report, time_to_quality, ttq_report
from triptych.bench.cell import MODES, VARIANTS, expand, load_suite
from triptych.bench.report import write_all
from triptych.bench.runner import environment, run_cells
from triptych.bench.scale import (
    BUDGET_S,
    MAX_SECONDS,
    SCALE_MODELS,
    ScaleModel,
    label_of,
    run_scale,
)
from triptych.commands import options
from triptych.common import zoo
from triptych.common.console import console
from triptych.common.weights import write_text_atomic
from triptych.frameworks.base import available, resolve
from triptych.report import publish_report
from triptych.report.scale_plots import scale_plots, ttq_plot


def add_parser(sub: Any) -> None:
    p = sub.add_parser("bench", help="cross-framework benchmarks", description=__doc__)
    p.add_argument("models", nargs="*", help="zoo models (default: all)")
    options.add_frameworks_option(p)
    p.add_argument(
        "--mode",
        type=options.comma_choices("--mode", MODES),
        default=MODES,
        help="train,infer,ort (default all)",
    )
    p.add_argument(
        "--batch",
        type=options.comma_ints("--batch"),
        default=None,
        help="batch sizes (default 1,8,64,256; --suite publish: 1,8,64)",
    )
    p.add_argument(
        "--variant",
        type=options.comma_choices("--variant", VARIANTS),
        default=VARIANTS,
        help="default,tuned (default both)",
    )
    p.add_argument(
        "--threads", type=options.positive_int("--threads"), default=2, help="threads (default 2)"
    )
    p.add_argument(
        "--repeats", type=options.positive_int("--repeats"), default=20, help="repeats (default 20)"
    )
    p.add_argument(
        "--suite",
        help="a suite JSON file (overrides the options above), or 'publish' (every "
        "published table, `make bench`), 'scale' or 'ttq'",
    )
    p.add_argument(
        "--budget-min",
        type=float,
        default=BUDGET_S / 60,
        help=f"--suite scale: minutes for the whole run (default {BUDGET_S / 60:.0f}); cells "
        "left when it is spent are recorded as skipped",
    )
    p.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help=f"--suite scale / publish: seconds of timed repeats per cell (default "
        f"{MAX_SECONDS:.0f} / {publish.MAX_SECONDS:.0f})",
    )
    p.add_argument(
        "--peak-gflops",
        type=float,
        help="--suite scale and plain runs: the fp32 peak the cells' fraction refers to "
        "(default: measured before and after the run; given, it is recorded as given and "
        "nothing is measured: quick runs, tests)",
    )
    p.add_argument(
        "--device",
        type=_device,
        default="cpu",
        help="--suite scale: where the native cells run: cpu (default) or cuda[:N] (PyTorch; "
        "ORT cells use its CUDA provider when it loads and record the one that ran)",
    )
    p.add_argument(
        "--note", action="append", default=[], help="a line for the notes of a named suite"
    )
    p.add_argument(
        "--append",
        action="store_true",
        help="--suite scale/ttq: add this run's frameworks to the JSON already in --out "
        "(their old rows replaced, the others kept; the markdown names both runs)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="--suite scale: keep the ok cells of the run already in --out and run only the "
        "others (a run that its budget cut short; the markdown says which came from where)",
    )
    p.add_argument(
        "--models",
        dest="scale_models",  # the positional ``models`` (zoo names) would overwrite it
        help="--suite scale: only the models whose label contains one of these comma-"
        "separated texts (e.g. MobileNetV2; default all)",
    )
    p.add_argument("--no-overhead", action="store_true", help="skip the harness overhead")
    p.add_argument(
        "--no-ttq", action="store_true", help="--suite publish: skip the time-to-quality runs"
    )
    p.add_argument(
        "--headline-into",
        nargs="*",
        default=[],
        type=Path,
        help="--suite publish: files whose <!-- headline:begin/end --> block gets the "
        "headline table (make bench: README.md docs/index.md)",
    )
    p.add_argument("--out", default="benchmarks/results", help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.suite in NAMED_SUITES:
        return NAMED_SUITES[args.suite](args)
    if args.suite:
        s = load_suite(args.suite)
        models, fws = s["models"], [resolve(f) for f in s["frameworks"]]
        modes, batches, variants = s["modes"], s["batches"], s["variants"]
        threads, repeats = s["threads"], s["repeats"]
    else:
        models = args.models or zoo.names()
        fws = args.frameworks or available()
        modes, batches, variants = args.mode, args.batch or (1, 8, 64, 256), args.variant
        threads, repeats = args.threads, args.repeats
    for m in models:
        zoo.entry(m)  # unknown model: ValueError listing the zoo
    cells = expand(models, fws, modes, batches, variants, threads, repeats)
    at_start = provenance.provenance(threads)  # the commit and tree the cells run
    given = args.peak_gflops
    peaks = [publish.given_peak(given) if given else publish.measure_peak(threads, "start", fws)]
    peak = peaks[0]["best_gflops"]
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
    if not given:
        peaks.append(publish.measure_peak(threads, "end", fws))
    doc = {"peak": {"measurements": peaks}, "results": results}
    doc["peak"]["gflops"] = publish.run_peak(doc)
    publish.apply_peak(doc)  # the fractions against the larger of the two measurements
    extra: dict[str, Any] = {"peak": doc["peak"], "peak_exceeded": doc["peak_exceeded"]}
    if not args.no_overhead:
        extra["overhead"] = [_overhead(fw, "conv_autoencoder", 64, threads) for fw in fws]
    command = (
        "triptych " + " ".join(shlex.quote(a) for a in sys.argv[2:])
        if sys.argv[1:2] == ["bench"]
        else "triptych bench"
    )
    env = environment(threads, doc["peak"]["gflops"], at_start)
    paths = write_all(results, env, Path(args.out), command, extra)
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


def _device(text: str) -> str:
    """``--device``: cpu, cuda or cuda:N."""
    head, _, index = text.partition(":")
    if text == "cpu" or (head == "cuda" and (not index or index.isdigit())):
        return text
    raise argparse.ArgumentTypeError(f"--device {text!r}: allowed: cpu, cuda, cuda:N")


def _command() -> str:
    return "triptych " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def run_publish_suite(args: argparse.Namespace) -> int:
    """``--suite publish``: publish.json (+ .md, plots) in --out, the headline into
    --headline-into; ``--resume`` continues an interrupted run there."""
    fws = args.frameworks or available()
    out = Path(args.out)
    for target in args.headline_into:  # refuse before an hour of measuring, not after
        try:
            publish_report.replace_headline(target.read_text(), "")
        except (OSError, ValueError) as e:
            raise SystemExit(f"--headline-into {target}: {e}") from None
    models = tuple(
        replace(m, batches=tuple(args.batch)) if args.batch else m
        for m in _scale_models(args.scale_models, publish.PUBLISH_MODELS)
    )
    seconds = args.max_seconds or publish.MAX_SECONDS
    cells = publish.publish_cells(fws, args.threads, args.repeats, seconds, models)
    fresh = publish.new_document(fws, args.threads, _command(), seconds)
    try:
        doc = publish.resumable(out / publish.RESULTS_FILE, fresh) if args.resume else None
    except ValueError as e:
        raise SystemExit(f"--resume: {e}") from None
    if doc is None and (out / publish.RESULTS_FILE).exists() and not args.resume:
        old = json.loads((out / publish.RESULTS_FILE).read_text())
        if not old.get("complete"):  # hours of cells: never overwritten without --resume
            raise SystemExit(f"{out / publish.RESULTS_FILE} holds an interrupted run: "
                             "continue it with --resume, or move it aside")  # fmt: skip
    doc = doc or fresh
    con = console()
    tasks = () if args.no_ttq else publish.TTQ_TASKS
    with Progress(console=con) as bar:
        task = bar.add_task("publish suite", total=len(cells) + len(tasks) * len(fws))
        doc = publish.run_publish(
            doc, out, cells, lambda text: bar.update(task, advance=1, description=text), tasks
        )
    paths = publish_report.write_reports(doc, out, args.headline_into)
    con.print(publish_report.headline(doc))
    if doc["peak_exceeded"]:
        con.print(f"[red]cells above 100 % of the peak: {doc['peak_exceeded']}: the peak is wrong")
    con.print(f"written: {', '.join(str(p) for p in [out / publish.RESULTS_FILE, *paths])}")
    return 0


def run_scale_suite(args: argparse.Namespace) -> int:
    """``--suite scale``: scale.json, scale.md and the plots in --out."""
    fws = args.frameworks or available()
    con = console()
    out = Path(args.out)
    with Progress(console=con) as bar:
        task = bar.add_task("scale cells", total=None)

        def done(r: dict[str, Any]) -> None:
            c = r["cell"]
            bar.update(
                task,
                advance=1,
                description=f"{label_of(c)} {c['framework']} {c['mode']} {c['variant']} "
                f"b{c['batch']}: {r['status']}",
            )

        doc = run_scale(
            fws,
            args.threads,
            args.repeats,
            args.max_seconds or MAX_SECONDS,
            args.budget_min * 60,
            on_done=done,
            peak_gflops=args.peak_gflops,
            device=args.device,
            earlier=_earlier(args, out / "scale.json"),
            models=_scale_models(args.scale_models),
        )
    doc["command"] = _command()
    doc["notes"] = list(args.note)
    doc = _appended(args, doc, out / "scale.json", "results")
    paths = [scale_report.write_json(doc, out / "scale.json")]
    paths += list(scale_plots(doc["results"], out).values())
    md = scale_report.scale_markdown(doc, doc["command"], doc["notes"])
    paths.append(write_text_atomic(out / "scale.md", md))
    con.print("\n".join(scale_report.target_lines(doc["results"])))
    con.print(f"written: {', '.join(str(p) for p in paths)}")
    return 0


def _scale_models(
    wanted: str | None, suite: tuple[ScaleModel, ...] = SCALE_MODELS
) -> tuple[ScaleModel, ...]:
    """The ``suite``'s models whose label contains one of the comma-separated ``wanted``
    texts (all when None); `SystemExit` naming the labels when none matches."""
    if not wanted:
        return suite
    keys = [w.strip() for w in wanted.split(",") if w.strip()]
    chosen = tuple(m for m in suite if any(k in m.label for k in keys))
    if not chosen:
        labels = ", ".join(m.label for m in suite)
        raise SystemExit(f"--models {wanted!r} matches no scale model; labels: {labels}")
    return chosen


def _earlier(args: argparse.Namespace, path: Path) -> dict[str, Any] | None:
    """``--resume``: the run already in ``path`` (its ok cells are kept); None without."""
    if not getattr(args, "resume", False):
        return None
    if not path.exists():
        raise SystemExit(f"--resume: no earlier run at {path} (run without --resume first)")
    return json.loads(path.read_text())


def _appended(args: argparse.Namespace, doc: dict[str, Any], path: Path, key: str) -> dict:
    """``doc`` added to the run already at ``path`` with ``--append`` (and ``doc`` as it is
    without, or when there is none yet)."""
    if not getattr(args, "append", False) or not path.exists():
        return doc
    merged = scale_report.append_run(json.loads(path.read_text()), doc, key)
    merged.setdefault("command", doc["command"])
    merged["notes"] = [*merged.get("notes", []), *doc["notes"]]
    return merged


def run_ttq_suite(args: argparse.Namespace) -> int:
    """``--suite ttq``: time_to_quality.json, .md and .png in --out."""
    fws = args.frameworks or available()
    con = console()
    out = Path(args.out)

    def done(run: dict[str, Any]) -> None:
        state = run.get("reached", run["status"])
        con.print(f"{run['task']} {run['framework']}: reached={state} {run.get('seconds')}")

    doc = time_to_quality.run_all(fws, threads=args.threads, on_done=done)
    doc["command"] = _command()
    doc["notes"] = list(args.note)
    doc = _appended(args, doc, out / "time_to_quality.json", "runs")
    paths = [scale_report.write_json(doc, out / "time_to_quality.json"), ttq_plot(doc, out)]
    md = ttq_report.ttq_markdown(doc, doc["command"], doc["notes"])
    paths.append(write_text_atomic(out / "time_to_quality.md", md))
    con.print(f"written: {', '.join(str(p) for p in paths)}")
    return 0


NAMED_SUITES = {"scale": run_scale_suite, "ttq": run_ttq_suite, "publish": run_publish_suite}
