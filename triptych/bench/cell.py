"""A benchmark cell: model × framework × mode × batch × variant, and the suite file.

Modes: ``train`` (one optimizer step of the main chain: Adam, MSE to a fixed random target;
FLOPs counted as 3 × forward), ``infer`` (native eval-mode forward of the main chain),
``ort`` (the framework's own ONNX export of each main-chain network, run by onnxruntime).
Variants: ``default`` (eager / idiomatic) and ``tuned`` (each framework's recommended speed
options: PyTorch channels_last + inference_mode, TensorFlow XLA ``jit_compile``, Gluon
``hybridize(static_alloc, static_shape)``, ORT all graph optimisations vs basic).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MODES = ("train", "infer", "ort")
VARIANTS = ("default", "tuned")


@dataclass(frozen=True)
class Cell:
    model: str
    framework: str
    mode: str
    batch: int
    variant: str = "default"
    threads: int = 2
    repeats: int = 20
    warmup: int = 3
    peak_gflops: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; allowed: {', '.join(MODES)}")
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; allowed: {', '.join(VARIANTS)}")

    @property
    def key(self) -> str:
        return f"{self.model}|{self.framework}|{self.mode}|{self.batch}|{self.variant}"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Cell:
        return cls(**json.loads(text))


def expand(
    models: list[str],
    frameworks: list[str],
    modes: list[str],
    batches: list[int],
    variants: list[str],
    threads: int,
    repeats: int,
    warmup: int = 3,
) -> list[Cell]:
    """Every combination, in a stable order (model, framework, mode, variant, batch)."""
    return [
        Cell(m, f, mode, b, v, threads, repeats, warmup)
        for m, f, mode, v, b in itertools.product(models, frameworks, modes, variants, batches)
    ]


def load_suite(path: str | Path) -> dict[str, Any]:
    """A suite file: JSON with models, frameworks, modes, batches, variants, threads,
    repeats (see benchmarks/suite.json)."""
    return json.loads(Path(path).read_text())
