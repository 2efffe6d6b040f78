"""The ``scale`` suite: models big enough that frameworks are compute-bound, so the ranking
means something to a user choosing one (the zoo suite at its own size measures per-call
overhead). `triptych bench --suite scale` runs it.

Models: ResNet-18 at 3x32x32 (CIFAR stem; batch 1, 32, 64, 128) and at 3x224x224 (ImageNet
stem; batch 1, 16), the zoo DCGAN at 28x28 (batch 64; train = one D and one G step), the
DCGAN paper's 64x64 net (`triptych.common.zoo_scale.dcgan64`, batch 64) and the U-Net at
28x28 (batch 32). Modes: train, native inference, ORT inference of each framework's export;
variants default and tuned. Every cell in its own process with the same thread budget
(default 2), its timed repeats capped at ``max_seconds``, and the whole run at ``budget_s``.

The cells run in the order of `priority`, so that what the README's headline and the
issue's targets need comes first when the budget is tight. A cell the budget does not reach,
or that cannot run as asked, is in the results as skipped with the reason.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

from triptych.bench.cell import Cell, ModelOptions
from triptych.bench.runner import environment, run_cells, skipped
from triptych.bench.worker import is_adversarial
from triptych.common import machine, zoo_scale
from triptych.frameworks.base import FRAMEWORKS, get_backend


@dataclass(frozen=True)
class ScaleModel:
    """One model of the suite at one size, and the batches it runs at."""

    label: str
    model: str
    options: ModelOptions
    batches: tuple[int, ...]

    def matches(self, cell: dict[str, Any]) -> bool:
        """Whether a result's ``cell`` dict is this model at this size."""
        return cell["model"] == self.model and ModelOptions(**cell["options"]) == self.options


SCALE_MODELS: tuple[ScaleModel, ...] = (
    ScaleModel("resnet18 32x32", "resnet18", ModelOptions((3, 32, 32), "cifar"), (1, 32, 64, 128)),
    ScaleModel("resnet18 224x224", "resnet18", ModelOptions((3, 224, 224), "imagenet"), (1, 16)),
    ScaleModel("DCGAN 28x28", "gan", ModelOptions((1, 28, 28)), (64,)),
    ScaleModel("DCGAN 64x64", "dcgan64", ModelOptions((3, 64, 64)), (64,)),
    ScaleModel("U-Net 28x28", "unet", ModelOptions((1, 28, 28)), (32,)),
    ScaleModel("MobileNetV2 32x32", "mobilenet_v2", ModelOptions((3, 32, 32)), (1, 32)),
    # attention speed per framework: 4 blocks over 17 tokens of 64 features
    ScaleModel("ViT-tiny 28x28", "vit_tiny", ModelOptions((1, 28, 28)), (1, 64)),
    # the same network without its depthwise convolutions: their share of a step
    ScaleModel(
        "MobileNetV2 32x32 no depthwise",
        "mobilenet_v2",
        ModelOptions((3, 32, 32), depthwise="skip"),
        (32,),
    ),
)
#: the issue's fraction-of-peak target: ResNet-18 32x32 train step at this batch
TARGET_MODEL, TARGET_BATCH, TARGET_FRACTION = SCALE_MODELS[0], 64, 0.5
#: seconds of timed repeats per cell, seconds one cell may take, seconds for the whole run
MAX_SECONDS, CELL_TIMEOUT_S, BUDGET_S = 4.0, 240.0, 1500.0
#: best of this many 1024² matmuls is the measured peak
PEAK_REPEATS = 30


def label_of(cell: dict[str, Any]) -> str:
    """The suite's label of a result's cell (``resnet18 32x32``); the model name otherwise."""
    for m in SCALE_MODELS:
        if m.matches(cell):
            return m.label
    return cell["model"]


def scale_cells(
    frameworks: list[str],
    threads: int = 2,
    repeats: int = 10,
    max_seconds: float = MAX_SECONDS,
    models: tuple[ScaleModel, ...] = SCALE_MODELS,
    device: str = "cpu",
) -> list[Cell]:
    """Every cell of the suite (model × batch × framework × train / infer default and tuned,
    ORT with all graph optimisations, ONNX Runtime's own default) in run order, by
    `priority`; ``device``: where the native cells run ("cpu" or "cuda")."""
    kinds = [("train", "default"), ("infer", "default"), ("ort", "tuned")]
    kinds += [("train", "tuned"), ("infer", "tuned")]
    cells = [
        Cell(m.model, fw, mode, batch, variant, threads, repeats, warmup=2,
             options=m.options, max_seconds=max_seconds, device=device)
        for m in models
        for batch in m.batches
        for mode, variant in kinds
        for fw in frameworks
    ]  # fmt: skip
    order = priority if device == "cpu" else gpu_priority
    return sorted(cells, key=lambda c: order(c, frameworks))  # stable: suite order within


def priority(cell: Cell, frameworks: list[str]) -> int:
    """Run order, so that what the issue's targets and the README's headline need runs first
    when the budget is tight: 0 the fraction-of-peak target (ResNet-18 32x32 train at batch
    64, default and tuned); 1 native inference (default) and ORT on the first framework's
    export, every model and batch (the ORT target); 2 the other train cells (default); 3 the
    tuned variants; 4 ORT on the other frameworks' exports."""
    target = TARGET_MODEL.model == cell.model and TARGET_MODEL.options == cell.options
    if cell.mode == "train" and target and cell.batch == TARGET_BATCH:
        return 0  # the target, default then tuned (the suite order within a priority)
    if cell.mode == "train" and cell.variant == "default":
        return 2
    if cell.mode == "ort":
        return 1 if cell.framework == frameworks[0] else 4
    return 1 if cell.variant == "default" else 3


def gpu_priority(cell: Cell, frameworks: list[str]) -> int:
    """Run order on a GPU, where compiling the tuned cells takes most of the time and ORT may
    run on the CPU (its CUDA provider is not in every image): 0 every cell of the
    fraction-of-peak target's model and batch; 1 the native default cells; 2 the tuned
    ones; 3 ORT."""
    target = TARGET_MODEL.model == cell.model and TARGET_MODEL.options == cell.options
    if target and cell.batch == TARGET_BATCH:
        return 0
    if cell.mode == "ort":
        return 3
    return 1 if cell.variant == "default" else 2


def known_skip(cell: Cell) -> str | None:
    """Why ``cell`` cannot run, known before starting a process for it; None if it can."""
    if cell.device != "cpu" and cell.mode != "ort" and not FRAMEWORKS[cell.framework].gpu:
        return f"{FRAMEWORKS[cell.framework].display} runs on the CPU only in triptych"
    if cell.variant == "tuned" and cell.mode != "ort":
        why = get_backend(cell.framework).speed.NO_TUNED_VARIANT  # each backend says
        if why:
            return why
    spec = zoo_scale.create_spec(cell.model, **cell.options.kwargs())
    if cell.mode == "train" and cell.variant == "tuned" and is_adversarial(spec):
        return "no tuned adversarial step: the backends' D/G steps take no speed options"
    return None


def run_scale(
    frameworks: list[str],
    threads: int = 2,
    repeats: int = 10,
    max_seconds: float = MAX_SECONDS,
    budget_s: float = BUDGET_S,
    models: tuple[ScaleModel, ...] = SCALE_MODELS,
    on_done: Callable[[dict[str, Any]], None] | None = None,
    peak_gflops: float | None = None,
    device: str = "cpu",
    earlier: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the suite; returns the document `scale_report` renders: environment (the fp32
    matmul peak, numpy's and onnxruntime's, measured before and after the run; cells use the
    largest, or ``peak_gflops`` when given: a peak measured on a quiet machine; on a GPU
    PyTorch's strict-fp32 matmul there), results in run order, the load average before and
    after, and the wall time. ``device``: where the native cells run ("cpu" or "cuda").
    ``earlier``: a document this function returned before (a run the budget cut short):
    its ok cells are kept as they are and only the others run."""
    load_before = _loadavg()
    peak_before = measured_peak(threads, device)
    cells = scale_cells(frameworks, threads, repeats, max_seconds, models, device)
    t0 = time.perf_counter()
    runnable, pre = [], {}
    kept = _ok_by_key(earlier)
    for i, cell in enumerate(cells):
        reason = known_skip(cell)
        if cell.key in kept:
            pre[i] = kept[cell.key]
        elif reason is None:
            runnable.append(cell)
        else:
            pre[i] = skipped(cell, reason)
    first = peak_gflops or max(peak_before.values())  # the final peak is set below
    ran = iter(run_cells(runnable, first, on_done, budget_s, CELL_TIMEOUT_S))
    results = [pre[i] if i in pre else next(ran) for i in range(len(cells))]
    for r in pre.values():
        if on_done is not None:
            on_done(r)
    wall = time.perf_counter() - t0
    peak_after = measured_peak(threads, device)
    peak = peak_gflops or max(*peak_before.values(), *peak_after.values())
    kept_ids = {id(r) for r in kept.values()}
    for r in results:  # one peak for every cell run now: the larger of the two measurements
        if r.get("gflops") is not None and id(r) not in kept_ids:  # kept: their run's peak
            r["fraction_of_peak"] = r["gflops"] / peak
            r["cell"]["peak_gflops"] = peak
    env = environment(threads, peak)
    env.update(
        matmul_peak_before=peak_before,
        matmul_peak_after=peak_after,
        matmul_peak_given=peak_gflops,
        device=device,
        device_name=_device_name(device),
        load_before=load_before,
        load_after=_loadavg(),
        wall_s=wall,
        budget_s=budget_s,
        max_seconds=max_seconds,
        cell_timeout_s=CELL_TIMEOUT_S,
    )
    if kept:
        env["resumed"] = {
            "cells_kept": len(kept),
            "command": earlier.get("command", ""),
            "wall_s": earlier["environment"].get("wall_s"),
            "matmul_peak_before": earlier["environment"].get("matmul_peak_before"),
        }
    return {"suite": "scale", "environment": env, "results": results}


def _ok_by_key(doc: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The ok results of an earlier run by their cell's key."""
    if doc is None:
        return {}
    return {Cell(**r["cell"]).key: r for r in doc["results"] if r["status"] == "ok"}


def ort_matmul_gflops(threads: int = 2, n: int = 1024, repeats: int = PEAK_REPEATS) -> float:
    """Best achieved fp32 GFLOP/s of an n×n @ n×n MatMul in onnxruntime (MLAS) on ``threads``
    intra-op threads. On this machine numpy's OpenBLAS reaches 12-14 GFLOP/s where MLAS
    reaches 66 in the same process (load 7): numpy alone understates the peak ~5×."""
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"])], "mm", [a, b], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feed = {"a": rng.random((n, n), dtype=np.float32), "b": rng.random((n, n), dtype=np.float32)}
    sess.run(None, feed)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        sess.run(None, feed)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9


def measured_peak(threads: int, device: str = "cpu") -> dict[str, float]:
    """numpy's and onnxruntime's best 1024² fp32 matmul GFLOP/s now; on a GPU PyTorch's best
    8192² strict-fp32 matmul there (the GPU cells' peak)."""
    if device != "cpu":
        return {"torch_" + device: _gpu_speed().matmul_peak_gflops(device)}
    return {
        "numpy": machine.matmul_peak_gflops(repeats=PEAK_REPEATS),
        "onnxruntime": ort_matmul_gflops(threads),
    }


def _gpu_speed() -> Any:
    """PyTorch's speed module: the one backend that runs on a GPU."""
    return get_backend("torch").speed


def _device_name(device: str) -> str:
    return "cpu" if device == "cpu" else _gpu_speed().device_name(device)


def _loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages (what `uptime` prints)."""
    return [round(v, 2) for v in os.getloadavg()]


def quick_cells(frameworks: list[str]) -> list[Cell]:
    """The smallest cell per framework that still goes through the options and the
    adversarial step: the 28x28 DCGAN's train step at batch 2, one warm-up, one repeat (what
    the tests run through the worker)."""
    gan = next(m for m in SCALE_MODELS if m.model == "gan")
    return [
        replace(c, repeats=1, warmup=1)
        for c in scale_cells(frameworks, models=(replace(gan, batches=(2,)),))
        if c.mode == "train" and c.variant == "default"
    ]
