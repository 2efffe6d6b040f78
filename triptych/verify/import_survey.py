"""The ONNX import survey: torchvision's classification families (torch.onnx, opset 17), a
few Keras Applications (tf2onnx) and attention models (ViTs, text encoders over int64 token
ids: `triptych.verify.import_survey_attention`), each at two input sizes, imported with
`triptych.onnx_import.import_onnx` and built in every installed framework, each build's
output against ONNX Runtime on the original file. Writes the model x framework table as
markdown::

    python -m triptych.verify.import_survey --out docs/import_survey.md
    python -m triptych.verify.import_survey --frameworks torch --models resnet18,convnext_tiny
    python -m triptych.verify.import_survey --models attention  # a source's every model

Models get random weights (seeded) and BatchNorm running statistics drawn at random
(mean ~ N(0, 0.1), var ~ U(0.5, 1.5)), ConvNeXt layer scales ~ U(0.5, 1.5), so that no layer
is an identity by accident; nothing is downloaded.

torchvision on this project's CPU torch: PyPI's torchvision wheel for torch 2.13.0 is the
CUDA build, whose C++ ops (``torchvision::nms``...) cannot load without CUDA torch, and its
import then fails (``operator torchvision::nms does not exist``). `load_torchvision` defines
the two ops its import registers fake kernels for (schemas only) and imports it again: the
models load and run; the detection ops stay unusable.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from triptych.verify import import_survey_attention as att
from triptych.verify.torchvision_cpu import load_torchvision

#: max |native - ORT| allowed, relative to max(1, max |ORT|)
TOLERANCE = 1e-4
#: torchvision families: name -> (constructor kwargs, the two input sizes)
TORCHVISION: dict[str, tuple[dict[str, Any], tuple[int, int]]] = {
    "resnet18": ({}, (64, 96)),
    "resnext50_32x4d": ({}, (64, 96)),
    "wide_resnet50_2": ({}, (64, 96)),
    "vgg11_bn": ({}, (32, 224)),  # its 7x7 adaptive pool: a 1x1 map repeated, or the identity
    "alexnet": ({}, (64, 96)),  # its 6x6 adaptive pool repeats a 1x1 or 2x2 map
    "squeezenet1_0": ({}, (64, 96)),
    "densenet121": ({}, (64, 96)),
    "googlenet": ({"aux_logits": False, "init_weights": True}, (64, 96)),
    "inception_v3": ({"aux_logits": False, "init_weights": True}, (75, 96)),
    "mobilenet_v2": ({}, (64, 96)),
    "mobilenet_v3_small": ({}, (64, 96)),
    "mnasnet0_5": ({}, (64, 96)),
    "shufflenet_v2_x0_5": ({}, (64, 96)),
    "efficientnet_b0": ({}, (64, 96)),
    "regnet_y_400mf": ({}, (64, 96)),
    "convnext_tiny": ({}, (64, 96)),
}
#: Keras Applications exported through tf2onnx (NCHW input): name -> the two input sizes
KERAS: dict[str, tuple[int, int]] = {
    "MobileNetV2": (64, 96),
    "ResNet50": (64, 96),
    "DenseNet121": (64, 96),
    "EfficientNetB0": (64, 96),
    "VGG16": (64, 96),
}
CLASSES = 10


def torchvision_model(name: str, seed: int = 0) -> Any:
    """torchvision's ``name`` with ``CLASSES`` classes, random weights and statistics, in
    eval mode."""
    import torch

    tv = load_torchvision()
    torch.manual_seed(seed)
    model = getattr(tv.models, name)(num_classes=CLASSES, **TORCHVISION[name][0])
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.copy_(0.1 * torch.randn(module.num_features, generator=gen))
                module.running_var.copy_(0.5 + torch.rand(module.num_features, generator=gen))
            scale = getattr(module, "layer_scale", None)
            if isinstance(scale, torch.nn.Parameter):
                scale.copy_(0.5 + torch.rand(scale.shape, generator=gen))
    return model.eval()


def export_torchvision(name: str, size: int, path: Path, dynamo: bool = True) -> Path:
    """``name`` at ``size`` x ``size`` to ``path`` by torch.onnx (opset 17, batch dynamic)."""
    import torch

    model, x = torchvision_model(name), torch.randn(1, 3, size, size)
    names = {"input_names": ["x"], "output_names": ["y"], "verbose": False}
    axes = {"x": {0: "batch"}, "y": {0: "batch"}}
    with att.quiet_exporter():
        torch.onnx.export(model, (x,), str(path), dynamic_axes=axes, opset_version=17,
                          dynamo=dynamo, **names)  # fmt: skip
    return path


def export_keras(name: str, size: int, path: Path, opset: int = 17) -> Path:
    """Keras Applications' ``name`` (``weights=None``, random BatchNorm statistics, logits:
    no final softmax, which the vocabulary lacks) at ``size`` to ``path`` by tf2onnx with an
    NCHW input."""
    import keras
    import tensorflow as tf
    import tf2onnx

    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(
        weights=None, input_shape=(size, size, 3), classes=CLASSES, classifier_activation=None
    )
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, _, _ = layer.get_weights()
            c = gamma.shape[0]
            stats = [(0.1 * rng.standard_normal(c)).astype("f"), (0.5 + rng.random(c)).astype("f")]
            layer.set_weights([gamma, beta, *stats])
    fn = tf.function(lambda x: {"output": model(x, training=False)})
    spec = [tf.TensorSpec([None, size, size, 3], tf.float32, name="input")]
    proto, _ = tf2onnx.convert.from_function(
        fn, input_signature=spec, opset=opset, inputs_as_nchw=["input:0"]
    )
    _freeze_captures(proto, fn.get_concrete_function(*spec))
    path.write_bytes(proto.SerializeToString())
    return path


def _freeze_captures(proto: Any, concrete: Any) -> None:
    """Constants the traced function captured (Keras 3's Normalization mean and variance),
    which tf2onnx leaves as graph inputs, become initializers (or go, where unused)."""
    from onnx import numpy_helper

    captured = {}
    for external, internal in concrete.graph.captures:
        if hasattr(external, "numpy") and external.dtype.name != "resource":
            captured[internal.name] = external.numpy()
    used = {i for node in proto.graph.node for i in node.input}
    for vi in list(proto.graph.input):
        if vi.name in captured:
            proto.graph.input.remove(vi)
            if vi.name in used:
                proto.graph.initializer.append(numpy_helper.from_array(captured[vi.name], vi.name))


@dataclass
class Cell:
    """One model file in one framework: ``ok`` with ``diff`` (max |native - ORT| over
    max(1, max |ORT|)), or the reason it is not (``missing``: the framework has no converter
    for one of its layers)."""

    ok: bool
    text: str
    diff: float | None = None
    missing: bool = False


@dataclass
class Row:
    """One model at one size: the file's outcome per framework (or one import refusal)."""

    model: str
    size: int
    cells: dict[str, Cell] = field(default_factory=dict)
    refused: str | None = None
    seconds: float = 0.0


def check_file(
    path: Path, frameworks: Sequence[str], batch: int = 2
) -> tuple[dict[str, Cell], str | None]:
    """Import ``path`` and compare each framework's build against ORT on the file: (cells,
    None), or ({}, the refusal's reasons with their counts) when the importer refuses it. An
    int64 input (token ids) is fed ids below the embeddings' vocabulary, any other N(0, 1)."""
    import onnxruntime as ort

    from triptych.common.registry import MissingConverter
    from triptych.common.spec import input_vocabulary
    from triptych.model import create
    from triptych.onnx_import import UnsupportedOnnx, import_onnx

    try:
        spec, weights = import_onnx(path)
    except UnsupportedOnnx as e:
        reasons = Counter(p.split(": ", 1)[-1] for p in e.problems)
        listed = "; ".join(f"{r} (x{n})" if n > 1 else r for r, n in reasons.items())
        return {}, f"{len(e.problems)} node(s): {listed}"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    net, rng = spec.networks[spec.main], np.random.default_rng(0)
    vocab, shape = input_vocabulary(net), (batch, *net.input_shape)
    x = rng.standard_normal(shape).astype(np.float32)
    x = x if vocab is None else rng.integers(0, vocab, shape)  # token ids
    want = session.run(None, {session.get_inputs()[0].name: x})[0]
    scale = max(1.0, float(np.abs(want).max()))
    cells = {}
    for fw in frameworks:
        try:
            got = create(spec, framework=fw, weights=weights).predict(x)
        except MissingConverter as e:
            cells[fw] = Cell(False, f"no converter for {e.item}", missing=True)
            continue
        except Exception as e:  # a framework that cannot build it: its own reason
            cells[fw] = Cell(False, f"{type(e).__name__}: {str(e).splitlines()[0][:120]}")
            continue
        if got.shape != want.shape:
            cells[fw] = Cell(False, f"output shape {got.shape}, ORT {want.shape}")
            continue
        diff = float(np.abs(got - want).max()) / scale
        cells[fw] = Cell(diff <= TOLERANCE, f"{diff:.1e}", diff)
    return cells, None


def survey(
    models: Sequence[tuple[str, str]],
    frameworks: Sequence[str],
    progress: bool = True,
    workdir: Path | None = None,
    on_row: Callable[[Row], None] | None = None,
) -> list[Row]:
    """One `Row` per (source, model) in ``models`` (source "torchvision", "keras" or
    "attention") and size, exported into ``workdir`` (a temporary folder by default)."""
    jobs = [(src, m, s) for src, m in models for s in SOURCES[src][0][m]]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn())
    rows: list[Row] = []
    bar = Progress(*columns, TimeElapsedColumn(), disable=not progress)
    with tempfile.TemporaryDirectory() as tmp, bar:
        task, folder = bar.add_task("import survey", total=len(jobs)), Path(workdir or tmp)
        for src, name, size in jobs:
            bar.update(task, description=f"{name} {_input(name, size)}")
            start, row = time.perf_counter(), Row(f"{src}:{name}", size)
            path = folder / f"{name}_{size}.onnx"
            row.cells, row.refused = _one(src, name, size, path, frameworks)
            row.seconds = time.perf_counter() - start
            path.unlink(missing_ok=True)
            rows.append(row)
            if on_row:
                on_row(row)
            bar.update(task, advance=1)
    return rows


def _one(
    src: str, name: str, size: int, path: Path, frameworks: Sequence[str]
) -> tuple[dict[str, Cell], str | None]:
    """Export one model and check its file; a failed step is the row's refusal."""
    export = SOURCES[src][1]
    try:
        export(name, size, path)
    except Exception as e:  # the exporter failed: there is no file
        return {}, f"export failed: {type(e).__name__}: {str(e)[:160]}"
    try:
        return check_file(path, frameworks)
    except Exception as e:  # not an ONNX file the importer reads (not a refusal)
        return {}, f"import failed: {type(e).__name__}: {str(e)[:160]}"


def _input(name: str, size: int) -> str:
    """The table's input column: the number of tokens for a text model, else the image."""
    return f"{size} tokens" if name in att.TEXT else f"{size}x{size}"


#: source -> (its models' two sizes, its exporter: (name, size, path) -> path)
SOURCES: dict[str, tuple[dict[str, tuple[int, int]], Callable[..., Path]]] = {
    "torchvision": ({m: sizes for m, (_, sizes) in TORCHVISION.items()}, export_torchvision),
    "keras": (KERAS, export_keras),
    "attention": (att.ATTENTION, att.export_attention),
}


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    dists = ("torch", "torchvision", "onnx", "onnxruntime", "onnxruntime-gpu", "tensorflow")
    for dist in (*dists, "keras", "tf2onnx", "jax"):
        try:
            found.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            continue
    return ", ".join(found)


def render(rows: Sequence[Row], frameworks: Sequence[str], command: str) -> str:
    """The survey as a markdown page: the table, then every refusal and failure in full."""
    lines = [
        "# ONNX import survey",
        "",
        "Each model exported to ONNX (torchvision by `torch.onnx.export`, dynamo, opset 17 "
        "asked: the exporter keeps 18 where its conversion down fails, as it does here; batch "
        "dynamic; Keras Applications by tf2onnx, opset 17, NCHW input, logits) with random "
        "weights and random BatchNorm statistics, imported by `triptych.import_onnx` and "
        "built in each framework; a cell is max |native - ORT on the file| / max(1, max "
        f"|ORT|) at batch 2 (pass: <= {TOLERANCE:.0e}), or why there is none.",
        "",
        att.NOTE,
        "",
        f"Regenerate: `{command}` ({_versions()}; CPU).",
        "",
        "| model | input | " + " | ".join(frameworks) + " | seconds |",
        "| --- | --- | " + " | ".join("---" for _ in frameworks) + " | ---: |",
    ]
    notes: list[str] = []
    for row in rows:
        if row.refused is not None:
            notes.append(f"- **{row.model} {row.size}**: {row.refused}")
            cells = [f"refused [{len(notes)}]"] * len(frameworks)
        else:
            cells = []
            for fw in frameworks:
                cell = row.cells.get(fw, Cell(False, "not run"))
                if cell.ok:
                    cells.append(f"ok {cell.text}")
                else:
                    notes.append(f"- **{row.model} {row.size}, {fw}**: {cell.text}")
                    cells.append(
                        f"{'FAIL ' + cell.text if cell.diff is not None else 'no'} [{len(notes)}]"
                    )
        lines.append(
            f"| {row.model} | {_input(row.model.split(':')[-1], row.size)} | "
            + " | ".join(cells)
            + f" | {row.seconds:.0f} |"
        )
    if notes:
        lines += [
            "",
            "Refusals and failures, numbered as in the table:",
            "",
            *[f"{k}. {n[2:]}" for k, n in enumerate(notes, start=1)],
        ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """The survey's command line; 0 when it wrote the page."""
    from triptych.common.weights import write_text_atomic
    from triptych.frameworks.base import available

    p = argparse.ArgumentParser(
        prog="python -m triptych.verify.import_survey", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--out", default="docs/import_survey.md", help="markdown page to write")
    p.add_argument("--frameworks", help="comma-separated (default: every installed one)")
    p.add_argument("--models", help="comma-separated models or sources (default: all)")
    p.add_argument("--no-keras", action="store_true", help="leave out the Keras Applications")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    frameworks = args.frameworks.split(",") if args.frameworks else available()
    wanted = set(args.models.split(",")) if args.models else None
    left_out = {"keras"} if args.no_keras else set()
    models = [(s, m) for s in SOURCES for m in SOURCES[s][0] if s not in left_out]
    models = [(s, m) for s, m in models if wanted is None or wanted & {s, m}]
    rows = survey(models, frameworks, progress=not args.quiet)
    command = "python -m triptych.verify.import_survey " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    write_text_atomic(args.out, render(rows, frameworks, command.strip()))
    print(f"wrote {args.out}: {sum(r.refused is None for r in rows)}/{len(rows)} files imported")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
