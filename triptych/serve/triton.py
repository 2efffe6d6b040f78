"""Write a Triton/KServe model repository: ``<name>/config.pbtxt`` + ``<name>/1/model.onnx``.

config.pbtxt: platform onnxruntime_onnx, max_batch_size, inputs/outputs with TYPE_* and dims
without the batch axis, dynamic_batching. Files are written atomically.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from triptych.common.weights import atomic_write, write_text_atomic
from triptych.serve.datatypes import TO_TRITON
from triptych.serve.repository import load_model


def config_pbtxt(name: str, onnx_path: Path, max_batch: int = 256, max_delay_us: int = 500) -> str:
    """The config.pbtxt text for one batched ONNX model."""
    model = load_model(name, "1", onnx_path, threads=1)
    if not model.batched:
        raise ValueError(
            f"{onnx_path}: dim 0 of every input and output must be the dynamic "
            f"batch axis for a Triton config with max_batch_size"
        )

    def tensors(kind: str, metas: list) -> str:
        items = []
        for t in metas:
            dims = ", ".join(str(d) for d in t.shape[1:])
            items.append(
                f'  {{\n    name: "{t.name}"\n    data_type: {TO_TRITON[t.datatype]}'
                f"\n    dims: [ {dims} ]\n  }}"
            )
        return f"{kind} [\n" + ",\n".join(items) + "\n]"

    return "\n".join(
        [
            f'name: "{name}"',
            'platform: "onnxruntime_onnx"',
            f"max_batch_size: {max_batch}",
            tensors("input", model.inputs),
            tensors("output", model.outputs),
            f"dynamic_batching {{\n  max_queue_delay_microseconds: {max_delay_us}\n}}",
            "",
        ]
    )


def write_triton_repo(
    onnx_files: dict[str, Path], repo: str | os.PathLike, max_batch: int = 256
) -> list[Path]:
    """One model directory per ``name -> .onnx``; returns the model directories."""
    root = Path(repo)
    out = []
    for name, src in onnx_files.items():
        text = config_pbtxt(name, Path(src), max_batch)
        model_dir = root / name
        atomic_write(model_dir / "1" / "model.onnx", lambda tmp, s=src: shutil.copyfile(s, tmp))
        write_text_atomic(model_dir / "config.pbtxt", text)
        out.append(model_dir)
    return out
