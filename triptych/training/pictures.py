"""The pictures of a reconstruction run: reconstruction grid (input / corrupted / output) or
inpainting grid (masked / filled / original)."""

from __future__ import annotations

import os
from pathlib import Path

from triptych.common import data as D
from triptych.common.recipe import Recipe
from triptych.engine.corrupt import apply_hole, corrupt, hole_mask, patch_mask
from triptych.model import Model
from triptych.training.evaluate import EVAL_SEED, raw_output
from triptych.training.grids import save_grid


def reconstruction_pictures(
    model: Model, test: D.Dataset, recipe: Recipe, out_dir: str | os.PathLike, n: int = 10
) -> Path:
    """Write ``reconstructions.png`` or ``inpainting.png`` for the first ``n`` test images."""
    x = test.x[:n]
    title = f"{model.spec.name} · {model.framework}"
    if recipe.corruption == "patches":  # a masked autoencoder: its task, then the hole
        mask = patch_mask(x.shape, recipe.patch_grid, recipe.mask_prob,
                          D.noise_stream(EVAL_SEED, "pictures"))  # fmt: skip
        masked = apply_hole(x, mask)
        hole = float(model.spec.options.get("inpaint_hole", 0.0))
        rows = {"masked": masked,
                "output": raw_output(model, masked)}  # fmt: skip
        if hole:
            rows.update(hole=apply_hole(x, hole_mask(x.shape, hole)), filled=model.predict(x))
        rows["original"] = x
        return save_grid(rows, Path(out_dir) / "inpainting.png", title)
    if recipe.hole > 0:
        masked = apply_hole(x, hole_mask(x.shape, recipe.hole))
        return save_grid(
            {"masked": masked, "filled": model.predict(x), "original": x},
            Path(out_dir) / "inpainting.png",
            title,
        )
    rows = {"input": x}
    if recipe.corruption != "none":
        noisy, _ = corrupt(x, recipe, D.noise_stream(EVAL_SEED, "pictures"))
        rows["corrupted"] = noisy
        rows["output"] = model.predict(noisy)
    else:
        rows["output"] = model.predict(x)
    return save_grid(rows, Path(out_dir) / "reconstructions.png", title)
