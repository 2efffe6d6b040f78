"""The ``publish`` suite: every number `benchmarks/` and the README publish, from one run.

`triptych bench --suite publish` (``make bench``) measures the fp32 peak (best of numpy's,
PyTorch's, MXNet's oneDNN and ONNX Runtime's GEMMs over a few sizes), runs every cell of
`PUBLISH_MODELS` (training and native inference in every framework, default and tuned at
batch 64; ONNX Runtime on PyTorch's export; batch 1, 8 and 64), re-measures the cells that
ran while something else used the cores, then the time-to-quality runs, and measures the
peak again. After every cell the results file is rewritten (atomically), so an interrupted
run continues where it stopped with ``--resume``.

Every results file carries the same provenance (`triptych.bench.provenance`) and peak; a cell
above 100 % of the run's peak means the peak is wrong, and the run says so
(``peak_exceeded``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from triptych.bench import gemm_peak, provenance, time_to_quality
from triptych.bench.cell import Cell, ModelOptions
from triptych.bench.runner import disturbance, run_one, skipped
from triptych.bench.scale import ScaleModel, known_skip
from triptych.bench.scale_report import write_json
from triptych.common import machine

BATCHES = (1, 8, 64)
#: the batch at which the tuned variants run, and the headline's batch
TUNED_BATCH = 64
PUBLISH_MODELS: tuple[ScaleModel, ...] = (
    ScaleModel("resnet18 32x32", "resnet18", ModelOptions((3, 32, 32), "cifar"), BATCHES),
    ScaleModel("MobileNetV2 32x32", "mobilenet_v2", ModelOptions((3, 32, 32)), BATCHES),
    ScaleModel("ViT-tiny 28x28", "vit_tiny", ModelOptions((1, 28, 28)), BATCHES),
    ScaleModel("U-Net 28x28", "unet", ModelOptions((1, 28, 28)), BATCHES),
    ScaleModel("DCGAN 28x28", "gan", ModelOptions((1, 28, 28)), BATCHES),
)
#: the time-to-quality tasks: the classifier to 97 % held-out accuracy, the GAN to its FD
TTQ_TASKS = ("classifier", "gan")
#: seconds of timed repeats per cell; seconds one cell may take; seconds to wait for quiet
MAX_SECONDS, CELL_TIMEOUT_S, QUIET_PATIENCE_S = 2.0, 300.0, 60.0
RESULTS_FILE, TTQ_FILE = "publish.json", "time_to_quality.json"
#: which framework's ONNX export the ORT cells run
ORT_EXPORT_OF = "torch"


def publish_cells(
    frameworks: list[str],
    threads: int = 2,
    repeats: int = 20,
    max_seconds: float = MAX_SECONDS,
    models: tuple[ScaleModel, ...] = PUBLISH_MODELS,
) -> list[Cell]:
    """Every cell, model by model: per batch, train and infer (default) in every framework,
    ORT on `ORT_EXPORT_OF`'s export (or the first framework's); at `TUNED_BATCH` the tuned
    train and infer too."""
    ort_fw = ORT_EXPORT_OF if ORT_EXPORT_OF in frameworks else frameworks[0]
    cells = []
    for m in models:
        for batch in m.batches:
            kinds = [("train", "default"), ("infer", "default")]
            if batch == TUNED_BATCH:
                kinds += [("train", "tuned"), ("infer", "tuned")]
            for mode, variant in kinds:
                for fw in frameworks:
                    cells.append(_cell(m, fw, mode, batch, variant, threads, repeats, max_seconds))
            cells.append(_cell(m, ort_fw, "ort", batch, "tuned", threads, repeats, max_seconds))
    return cells


def _cell(m: ScaleModel, fw: str, mode: str, batch: int, variant: str, threads: int,
          repeats: int, max_seconds: float) -> Cell:  # fmt: skip
    return Cell(m.model, fw, mode, batch, variant, threads, repeats, warmup=2,
                options=m.options, max_seconds=max_seconds)  # fmt: skip


def measure_peak(threads: int, when: str, frameworks: list[str] | None = None) -> dict[str, Any]:
    """One peak measurement (`gemm_peak.measure_all` over numpy, ORT and ``frameworks``,
    default every installed one) with its time and load; when every library failed, numpy's
    1024² GEMM in this process (``best_of`` says so)."""
    load = provenance.loadavg()
    m = {"when": when, "load_avg": load, **gemm_peak.measure_all(threads, frameworks)}
    if not m["best_gflops"]:
        m["best_gflops"], m["best_of"] = machine.matmul_peak_gflops(), "numpy (in process)"
    return m


def given_peak(gflops: float) -> dict[str, Any]:
    """A peak the caller gave (``--peak-gflops``), recorded as such: nothing measured."""
    return {"when": "given", "load_avg": provenance.loadavg(), "sizes": [], "by_library": {},
            "best_gflops": float(gflops), "best_of": "given with --peak-gflops"}  # fmt: skip


def run_peak(doc: dict[str, Any]) -> float:
    """The run's peak: the best of every measurement in ``doc`` (GFLOP/s)."""
    return max(m["best_gflops"] for m in doc["peak"]["measurements"])


def new_document(
    frameworks: list[str], threads: int, command: str, max_seconds: float = MAX_SECONDS
) -> dict[str, Any]:
    """An empty, incomplete run (what ``--resume`` continues)."""
    return {
        "suite": "publish",
        "complete": False,
        "command": command,
        "frameworks": frameworks,
        "provenance": provenance.provenance(threads),
        "peak": {"measurements": [], "gflops": None},
        "settings": {
            "threads": threads,
            "max_seconds": max_seconds,
            "cell_timeout_s": CELL_TIMEOUT_S,
            "quiet_patience_s": QUIET_PATIENCE_S,
            "batches": list(BATCHES),
            "tuned_batch": TUNED_BATCH,
            "ort_export_of": ORT_EXPORT_OF,
        },
        "results": [],
        "ttq": {"targets": [], "runs": []},
        "wall_s": 0.0,
    }


def resumable(path: Path, fresh: dict[str, Any]) -> dict[str, Any] | None:
    """The incomplete run at ``path``, to continue in place of ``fresh`` (`new_document`);
    None when there is none or it is complete (a complete run is never continued: ``make
    bench`` starts a new one). ValueError naming the difference when it ran other frameworks
    or settings, or on another CPU: its cells would not compare with the new ones."""
    import json

    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    if doc.get("complete"):
        return None
    old, new = doc.get("provenance", {}), fresh["provenance"]
    for what, a, b in (
        ("frameworks", doc.get("frameworks"), fresh["frameworks"]),
        ("settings", doc.get("settings"), fresh["settings"]),
        ("CPU", (old.get("cpu"), old.get("cpu_id"), old.get("cores")),
         (new["cpu"], new["cpu_id"], new["cores"])),
    ):  # fmt: skip
        if a != b:
            raise ValueError(
                f"the interrupted run in {path} has other {what} ({a} vs now {b}): continue it "
                "with the same options on the same machine, or move it aside to start afresh"
            )
    if (old.get("commit"), old.get("dirty")) != (new["commit"], new["dirty"]):
        doc.setdefault("resumed_at", []).append({k: new[k] for k in ("commit", "dirty", "date")})
    return doc


def run_publish(
    doc: dict[str, Any],
    out: Path,
    cells: list[Cell],
    on_done: Callable[[str], None] | None = None,
    ttq_tasks: tuple[str, ...] = TTQ_TASKS,
) -> dict[str, Any]:
    """Run what ``doc`` still lacks (its ok cells and runs are kept), saving ``doc`` to
    ``out``/`RESULTS_FILE` after every step; returns it complete."""
    t0, wall0 = time.perf_counter(), doc["wall_s"]
    threads = doc["settings"]["threads"]
    say = on_done or (lambda _text: None)
    path = out / RESULTS_FILE

    def save() -> None:
        doc["wall_s"] = wall0 + time.perf_counter() - t0
        write_json(doc, path)

    fws = doc["frameworks"]
    doc["peak"]["measurements"].append(
        measure_peak(threads, "resume" if doc["results"] else "start", fws)
    )
    doc["peak"]["gflops"] = run_peak(doc)
    save()
    kept = {Cell(**r["cell"]).key: r for r in doc["results"] if r["status"] == "ok"}
    results = []
    for cell in cells:
        if cell.key in kept:
            results.append(kept[cell.key])
            continue
        reason = known_skip(cell)
        r = skipped(cell, reason) if reason else _measure(cell, doc["peak"]["gflops"])
        results.append(r)
        doc["results"] = results + [x for k, x in kept.items() if k not in _keys(results)]
        save()
        say(f"{_label(r)}: {r['status']}")
    ran = _keys(results)
    results += [r for k, r in kept.items() if k not in ran]  # kept, though not asked now
    doc["results"] = results
    for i, r in enumerate(results):  # one more try for the cells others disturbed
        if r["status"] == "ok" and r["load"]["busy"] and not r.get("remeasured"):
            again = _measure(Cell(**r["cell"]), doc["peak"]["gflops"])
            quieter = disturbance(again) < disturbance(r)
            better = again if again["status"] == "ok" and quieter else r
            first = {"first_load": r["load"], "first_disturbance": disturbance(r)}
            results[i] = {**better, "remeasured": True, **first}
            save()
            say(f"{_label(r)}: re-measured (busy the first time)")
    _run_ttq(doc, ttq_tasks, threads, save, say)
    doc["peak"]["measurements"].append(measure_peak(threads, "end", fws))
    doc["peak"]["gflops"] = run_peak(doc)
    apply_peak(doc)
    doc["complete"] = True
    save()
    return doc


def _keys(results: list[dict[str, Any]]) -> set[str]:
    return {Cell(**r["cell"]).key for r in results}


def _label(r: dict[str, Any]) -> str:
    c = r["cell"]
    return f"{c['model']} {c['framework']} {c['mode']} {c['variant']} b{c['batch']}"


def _measure(cell: Cell, peak: float) -> dict[str, Any]:
    return run_one(replace(cell, peak_gflops=peak), CELL_TIMEOUT_S, QUIET_PATIENCE_S)


def apply_peak(doc: dict[str, Any]) -> None:
    """Every cell's fraction against the run's final peak; cells above it listed in
    ``peak_exceeded`` (the peak is then wrong, not the cell)."""
    peak = doc["peak"]["gflops"]
    exceeded = []
    for r in doc["results"]:
        if r["status"] == "ok" and r.get("gflops") is not None:
            r["fraction_of_peak"] = r["gflops"] / peak
            r["cell"]["peak_gflops"] = peak
            if r["fraction_of_peak"] > 1.0:
                exceeded.append(Cell(**r["cell"]).key)
    doc["peak_exceeded"] = exceeded


def _run_ttq(
    doc: dict[str, Any],
    tasks: tuple[str, ...],
    threads: int,
    save: Callable[[], None],
    say: Callable[[str], None],
) -> None:
    """Time to quality per task and framework, each in its own process, with the load
    around it; ok runs already in ``doc`` are kept."""
    ttq = doc["ttq"]
    targets = [time_to_quality.target_named(t) for t in tasks]
    ttq["targets"] = [asdict(t) for t in targets]
    ttq["data"] = time_to_quality.DATA
    done = {(r["task"], r["framework"]) for r in ttq["runs"] if r["status"] == "ok"}
    ttq["runs"] = [r for r in ttq["runs"] if (r["task"], r["framework"]) in done]
    for target in targets:
        for fw in doc["frameworks"]:
            if (target.task, fw) in done:
                continue
            before = provenance.wait_quiet(threads, QUIET_PATIENCE_S)
            meter = provenance.CpuMeter().start()
            run = time_to_quality.run_subprocess(target, fw, threads)
            during = meter.read()
            spare = provenance.spare_cores(threads)
            others = during["others_cores"] + during["steal_cores"]
            busy = before["busy_cores_before"] > spare or others > spare
            run["load"] = {**before, **during, "spare_cores": spare, "busy": busy}
            ttq["runs"].append(run)
            save()
            say(f"time to quality {target.task} {fw}: {run['status']} {run.get('seconds')}")
