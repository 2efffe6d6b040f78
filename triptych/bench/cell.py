"""A benchmark cell: model (with its options) × framework × mode × batch × variant, and the
suite file.

Modes: ``train`` (one optimizer step of the main chain: Adam, MSE to a fixed random target;
FLOPs counted as 3 × forward), ``infer`` (native eval-mode forward of the main chain),
``ort`` (the framework's own ONNX export of each main-chain network, run by onnxruntime).
Variants: ``default`` (eager / idiomatic) and ``tuned`` (each framework's recommended speed
options: PyTorch channels_last + ``torch.compile`` (+ inference_mode), TensorFlow XLA
``jit_compile``, Gluon ``hybridize(static_alloc, static_shape)``, ORT all graph optimisations
vs basic).
A model with a ``discriminator`` network (a GAN) trains adversarially: one D step on a real
and a generated batch, then one G step through D.

`ModelOptions` carries the spec factory's arguments (image shape, ResNet stem), so one zoo
model runs at several sizes (the ``scale`` suite: `triptych.bench.scale`).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MODES = ("train", "infer", "ort")
VARIANTS = ("default", "tuned")


@dataclass(frozen=True)
class ModelOptions:
    """Keyword arguments of the model's spec factory; ``None`` keeps the factory's default.

    ``image_shape``: (C, H, W) of the input image; ``stem``: ResNet's ``cifar`` or
    ``imagenet`` stem; ``depthwise``: MobileNetV2's ``conv`` or ``skip`` (the ablation that
    measures the depthwise layers' share of a step)."""

    image_shape: tuple[int, int, int] | None = None
    stem: str | None = None
    depthwise: str | None = None

    def __post_init__(self) -> None:
        if self.image_shape is not None:
            shape = tuple(int(v) for v in self.image_shape)
            if len(shape) != 3 or min(shape) < 1:
                raise ValueError(
                    f"image_shape must be 3 positive ints (C, H, W), got {self.image_shape!r}"
                )
            object.__setattr__(self, "image_shape", shape)  # JSON lists back to a tuple

    def kwargs(self) -> dict[str, Any]:
        """The options that are set, as factory keyword arguments."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @property
    def label(self) -> str:
        """Short text for tables: ``3x224x224 imagenet``; empty when nothing is set."""
        parts = []
        if self.image_shape is not None:
            parts.append("x".join(str(v) for v in self.image_shape))
        if self.stem is not None:
            parts.append(self.stem)
        if self.depthwise is not None:
            parts.append(f"depthwise {self.depthwise}")
        return " ".join(parts)


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
    options: ModelOptions = field(default_factory=ModelOptions)
    #: stop timing after this many seconds of timed repeats (at least one repeat runs);
    #: ``None``: all ``repeats``. The result says how many ran.
    max_seconds: float | None = None
    #: where the native cells run: "cpu" or a CUDA device ("cuda", "cuda:1"; PyTorch only).
    #: ORT cells run the exported file with the CUDA provider when it loads, else the CPU's,
    #: and record which one ran.
    device: str = "cpu"

    def __post_init__(self) -> None:
        if isinstance(self.options, dict):  # from JSON
            object.__setattr__(self, "options", ModelOptions(**self.options))
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; allowed: {', '.join(MODES)}")
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; allowed: {', '.join(VARIANTS)}")
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise ValueError(f"unknown device {self.device!r}; allowed: cpu, cuda, cuda:N")

    @property
    def key(self) -> str:
        model = f"{self.model}[{self.options.label}]" if self.options.label else self.model
        key = f"{model}|{self.framework}|{self.mode}|{self.batch}|{self.variant}"
        return key if self.device == "cpu" else f"{key}|{self.device}"

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
