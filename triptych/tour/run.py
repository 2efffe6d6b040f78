"""The tour's orchestration: for every selected framework, from the same canonical weights,
export + the parity matrix for every zoo model (training parity on the conv autoencoder), a
safetensors round trip, every autoencoder and the GAN trained with their recipes, a
transfer table, and one served request; then report.md, report.html and results.json.

The run directory is assembled under a hidden ``.<stamp>.partial`` name and renamed into
place at the end, so an interrupted run (Ctrl-C included) leaves no half-written report.
"""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress

from triptych.common import interrupt, zoo
from triptych.common.compare import compare_outputs
from triptych.common.weights import write_text_atomic
from triptych.info import collect
from triptych.model import create, load
from triptych.report.html import tour_html
from triptych.report.markdown import tour_markdown
from triptych.report.plots import plot_training_parity
from triptych.tour.results import ParityRow, ServingResult, TourResults, relative_report
from triptych.training.suite import count_runs, train_autoencoders, train_gans
from triptych.training.transfer_table import QUICK, TableConfig, cell_count, run_table
from triptych.verify.engine import run_parity

#: the model whose training parity the tour runs (conv + BN + ConvTranspose), and its steps
TRAINING_PARITY_MODEL, TRAINING_PARITY_STEPS = "conv_autoencoder", 20


def run_tour(
    frameworks: list[str],
    absent: dict[str, str],
    out: Path,
    *,
    full: bool = False,
    seed: int = 0,
    console: Console | None = None,
) -> tuple[TourResults, Path]:
    """Run every part; returns the results and the final run directory."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    final = Path(out) / stamp
    work = Path(out) / f".{stamp}.partial"
    shutil.rmtree(work, ignore_errors=True)
    results = TourResults(stamp, frameworks, absent, "full" if full else "quick")
    # every framework is imported (collect reads their versions) before the partial directory
    # exists, and Ctrl-C is Python's again: a library that installs its own SIGINT handler at
    # import time must not kill the process past the cleanup below (seen under load)
    on_sigint = signal.getsignal(signal.SIGINT)
    results.machine = collect(measure_peak=True)
    if on_sigint is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_sigint)
    work.mkdir(parents=True)
    try:  # from here on, any exit (Ctrl-C included) removes the partial directory
        results.parity = parity_part(frameworks, work, seed, console)
        interrupt.check()
        results.autoencoders, results.gan = training_part(
            frameworks, work, quick=not full, seed=seed, console=console
        )
        interrupt.check()
        results.transfer = transfer_part(frameworks, quick=not full, console=console)
        interrupt.check()
        results.serving = serving_part(work, frameworks[0])
        write_text_atomic(work / "report.md", tour_markdown(results))
        write_text_atomic(work / "report.html", tour_html(results, work))
        write_text_atomic(work / "results.json", json.dumps(results.to_dict(), indent=2))
        interrupt.check()
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return results, final


def parity_part(
    frameworks: list[str], root: Path, seed: int, console: Console | None
) -> list[ParityRow]:
    """Export + parity matrix for every zoo model, training parity on one, and a
    safetensors round trip into every framework."""
    rows = []
    names = zoo.names()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("parity", total=len(names))
        for name in names:
            interrupt.check()
            bar.update(task, description=f"export + parity · {name}")
            spec = zoo.create_spec(name)
            steps = TRAINING_PARITY_STEPS if name == TRAINING_PARITY_MODEL else 0
            report = run_parity(
                spec, frameworks, seed=seed, out_dir=root / "onnx", train_steps=steps
            )
            plot = None
            if report.training is not None:
                png = plot_training_parity(report.training, root / f"training_parity_{name}.png")
                plot = png.name
            ref = create(spec, framework=frameworks[0], seed=seed)
            path = ref.save(root / "weights" / f"{name}.safetensors")
            exact = all(
                bool(
                    compare_outputs(load(path, framework=fw).get_weights(), ref.get_weights(), 0, 0)
                )
                for fw in frameworks
            )
            rows.append(
                ParityRow(name, spec.param_count(), relative_report(report, root), exact, plot)
            )
            bar.advance(task)
    return rows


def training_part(
    frameworks: list[str], root: Path, *, quick: bool, seed: int, console: Console | None
) -> tuple:
    """Every autoencoder and the GAN, trained in every framework under ``root/train``."""
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("training", total=count_runs(frameworks))

        def done(name: str, fw: str) -> None:
            bar.update(task, advance=1, description=f"trained {name} · {fw}")
            interrupt.check()

        out = root / "train"
        autoencoders = train_autoencoders(
            frameworks, out, root, quick=quick, seed=seed, on_done=done
        )
        gan = train_gans(frameworks, out, root, quick=quick, seed=seed, on_done=done)
        return autoencoders, gan


def transfer_part(frameworks: list[str], *, quick: bool, console: Console | None):
    """The transfer table (quick: `QUICK`, fewer k, seeds and variants)."""
    config = QUICK if quick else TableConfig()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("transfer", total=cell_count(frameworks, config))
        return run_table(
            frameworks, config, lambda c: bar.update(task, advance=1, description=c.label)
        )


def serving_part(root: Path, framework: str) -> ServingResult:
    """Serve the exported GAN generator on loopback and ask it once with tritonclient."""
    try:
        import tritonclient.http as httpclient

        from triptych.serve.app import create_app
        from triptych.serve.repository import Repository
        from triptych.serve.server import serving
    except ImportError as e:  # the serve and dev extras are optional
        return ServingResult(skipped=f"serving not installed ({e})")
    path = root / "onnx" / f"gan.generator.{framework}.onnx"
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
    return ServingResult(
        path.stem, url, list(y.shape), bool(np.array_equal(y, reference)), seconds * 1000
    )
