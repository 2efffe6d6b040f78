"""Checkpoints: canonical weights (safetensors, with the step and recipe in its metadata) plus
each optimizer's state in the framework's own format; every file written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triptych.common.weights import atomic_write, load_weights

if TYPE_CHECKING:
    from triptych.model import Model

CHECKPOINT = "checkpoint.safetensors"


def save_checkpoint(
    out_dir: str | os.PathLike,
    model: Model,
    step: int,
    recipe_json: str,
    optimizers: dict[str, Any],
    seed: int,
) -> Path:
    """Write optimizer states first, then the weights file that names them (its presence
    marks a complete checkpoint)."""
    out = Path(out_dir)
    names = {}
    for role, step_obj in optimizers.items():
        blob = step_obj.state()
        name = f"optimizer_{role}.{model.framework}.bin"
        atomic_write(out / name, lambda tmp, b=blob: Path(tmp).write_bytes(b))
        names[role] = name
    extra = {
        "step": str(step),
        "recipe": recipe_json,
        "seed": str(seed),
        "optimizers": json.dumps(names),
    }
    from triptych.common.weights import save_weights

    return save_weights(
        out / CHECKPOINT, model.spec, model.get_weights(), model.framework, extra=extra
    )


def load_checkpoint(out_dir: str | os.PathLike, model: Model, optimizers: dict[str, Any]) -> int:
    """Restore weights and optimizer states into ``model``/``optimizers``; returns the step.

    Optimizer state is framework-specific: resuming in another framework is refused.
    """
    path = Path(out_dir) / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"--resume: no checkpoint at {path}")
    spec, weights, meta = load_weights(path)
    if spec.hash != model.spec.hash:
        raise ValueError(
            f"--resume: {path} holds {spec.name} (spec {spec.hash}), not "
            f"{model.spec.name} ({model.spec.hash})"
        )
    if meta["framework"] != model.framework:
        raise ValueError(
            f"--resume: {path} was written by {meta['framework']}; optimizer "
            f"state only resumes in the same framework (asked: "
            f"{model.framework}). Start a new run with --init instead."
        )
    model.set_weights(weights)
    names = json.loads(meta.get("optimizers", "{}"))
    for role, step_obj in optimizers.items():
        if role not in names:
            raise ValueError(f"--resume: {path} has no optimizer state for {role!r}")
        step_obj.load_state((Path(out_dir) / names[role]).read_bytes())
    return int(meta["step"]), int(meta["seed"])
