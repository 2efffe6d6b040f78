"""`triptych run`: the tour. For every zoo model in every installed framework, from the same
canonical weights: ONNX export, the parity matrix (native vs ORT, ORT vs reference,
cross-framework), training parity on the conv autoencoder, a safetensors round trip; then
every autoencoder trained with its recipe in every framework, evaluated and drawn. Writes
``<out>/<timestamp>/`` (results.json, report.md, onnx/, weights/, train/, plots).

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


def run(args: argparse.Namespace) -> int:
    from triptych.commands.info import collect
    from triptych.report.markdown import tour_markdown

    console = make_console()
    from triptych.frameworks.base import select

    fws, absent = select(args.frameworks)
    if not fws:
        console.print(f"[red]no usable framework[/]: {absent}")
        return 2
    stamp = time.strftime("%Y%m%d-%H%M%S")
    final = Path(args.out) / stamp
    work = Path(args.out) / f".{stamp}.partial"
    shutil.rmtree(work, ignore_errors=True)
    results: dict[str, Any] = {
        "started": stamp,
        "frameworks": fws,
        "absent": absent,
        "mode": "full" if args.full else "quick",
    }
    work.mkdir(parents=True)
    try:  # from here on, any exit (Ctrl-C included) removes the partial directory
        results["machine"] = collect(measure_peak=True)
        results["parity"] = _parity_part(fws, absent, work, args.seed, console)
        results["training"] = _training_part(fws, work / "train", not args.full, args.seed, console)
        results["transfer"] = _transfer_part(fws, not args.full, console)
        results["serving"] = _serving_part(work / "onnx", fws[0])
        from triptych.report.html import tour_html

        (work / "report.md").write_text(tour_markdown(results, work))
        (work / "report.html").write_text(tour_html(results, work))
        # paths inside the results point into the final directory, not the partial one
        text = json.dumps(results, indent=2, default=str).replace(str(work), str(final))
        (work / "results.json").write_text(text)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    from triptych.report.tables import gan_summary_table, parity_summary, training_summary

    console.print(parity_summary(results["parity"]))
    console.print(training_summary(results["training"]))
    console.print(gan_summary_table(results["training"]["gan"]))
    for fw, why in absent.items():
        console.print(f"[yellow]absent[/] {fw}: {why}")
    console.print(f"report: {final / 'report.html'} (and report.md)")
    failed = not all(
        m["parity"]["passed"] and m["weights_round_trip_exact"]
        for m in results["parity"]["models"].values()
    )
    failed |= results["serving"].get("exact") is False
    return 1 if failed else 0


def _parity_part(
    fws: list[str], absent: dict[str, str], work: Path, seed: int, console: Any
) -> dict[str, Any]:
    """Export + parity matrix for every zoo model, training parity on the conv AE, and a
    safetensors round trip into every framework."""
    import triptych
    from triptych.common import zoo
    from triptych.common.compare import compare_outputs
    from triptych.export.parity import run_parity
    from triptych.report.plots import plot_training_parity

    out: dict[str, Any] = {"models": {}}
    names = zoo.names()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("parity", total=len(names))
        for name in names:
            bar.update(task, description=f"export + parity · {name}")
            spec = zoo.create_spec(name)
            # training parity once, on the conv autoencoder (conv + BN + convT), 20 steps
            steps = 20 if name == "conv_autoencoder" else 0
            report = run_parity(
                spec, fws, seed=seed, out_dir=work / "onnx", train_steps=steps, absent=absent
            )
            row: dict[str, Any] = {"params": spec.param_count(), "parity": report.to_dict()}
            if report.training is not None:
                png = plot_training_parity(report.training, work / f"training_parity_{name}.png")
                row["training_parity_plot"] = png.name
            ref = triptych.create(spec, framework=fws[0], seed=seed)
            path = ref.save(work / "weights" / f"{name}.safetensors")
            row["weights_round_trip_exact"] = all(
                bool(
                    compare_outputs(
                        triptych.load(path, framework=fw).get_weights(), ref.get_weights(), 0.0, 0.0
                    )
                )
                for fw in fws
            )
            out["models"][name] = row
            bar.advance(task)
    return out


def _training_part(
    fws: list[str], out_dir: Path, quick: bool, seed: int, console: Any
) -> dict[str, Any]:
    from triptych.training.suite import count_runs, train_autoencoders, train_gans

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("training", total=count_runs(fws))

        def done(name: str, fw: str) -> None:
            bar.update(task, advance=1, description=f"trained {name} · {fw}")

        part = train_autoencoders(fws, out_dir, quick=quick, seed=seed, on_done=done)
        part["gan"] = train_gans(fws, out_dir, quick=quick, seed=seed, on_done=done)
        return part


def _transfer_part(fws: list[str], quick: bool, console: Any) -> dict[str, Any]:
    from triptych.training.transfer_table import QUICK, TableConfig, cell_count, run_table

    config = QUICK if quick else TableConfig()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("transfer", total=cell_count(fws, config))
        return run_table(fws, config, lambda key: bar.update(task, advance=1, description=key))


def _serving_part(onnx_dir: Path, fw: str) -> dict[str, Any]:
    """Serve the exported GAN generator on loopback and ask it once with tritonclient."""
    import numpy as np

    try:
        import tritonclient.http as httpclient
    except ImportError as e:
        return {"skipped": f"tritonclient not installed ({e})"}
    from triptych.serve.app import create_app
    from triptych.serve.repository import Repository
    from triptych.serve.server import serving

    path = onnx_dir / f"gan.generator.{fw}.onnx"
    repo = Repository.from_path(path)
    z = np.random.default_rng(0).standard_normal((4, 32)).astype(np.float32)
    with serving(create_app(repo)) as url:
        client = httpclient.InferenceServerClient(url=url)
        inp = httpclient.InferInput("z", [4, 32], "FP32")
        inp.set_data_from_numpy(z, binary_data=True)
        t0 = time.perf_counter()
        y = client.infer(path.stem, [inp]).as_numpy("y")
        seconds = time.perf_counter() - t0
    reference = repo.get(path.stem).session.run(None, {"z": z})[0]
    return {
        "model": path.stem,
        "url": url,
        "output_shape": list(y.shape),
        "exact": bool(np.array_equal(y, reference)),
        "latency_ms": seconds * 1000,
    }
