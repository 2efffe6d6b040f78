"""Evaluation of autoencoders on held-out images in [0, 1].

* ``test_mse``: mean squared error of the reconstruction of clean inputs;
* ``psnr``: 10·log10(1 / MSE) in dB (peak value 1);
* ``noisy_mse``: MSE to the clean image when the input carries the recipe's corruption
  (or Gaussian noise std 0.3 when the recipe has none), drawn with a fixed seed;
* ``code_sparsity``: fraction of code units with |h| < 0.01 (over test images), and
  ``code_mean_abs``;
* context encoders (and masked autoencoders, on the same centre hole, the spec's
  ``inpaint_hole``): ``hole_psnr`` of the filled image on the hole and ``mean_fill_psnr``,
  the hole filled with the per-pixel training mean, the baseline it must beat;
* masked autoencoders (``patches``): ``patches_psnr`` on the masked patches of the
  training task (the recipe's fraction of cells, drawn with a fixed seed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from triptych.common import data as D
from triptych.common.recipe import Recipe
from triptych.engine.corrupt import apply_hole, corrupt, hole_mask, patch_mask
from triptych.model import Model

SPARSE_THRESHOLD = 0.01
EVAL_SEED = 12345


def psnr(mse: float) -> float:
    return float(10.0 * np.log10(1.0 / max(mse, 1e-12)))


def pca_baseline(train: D.Dataset, test: D.Dataset, k: int) -> tuple[float, np.ndarray]:
    """Test MSE of the best rank-k affine reconstruction (PCA fitted on ``train``) and the
    k principal directions (D × k)."""
    x = train.x.reshape(len(train), -1).astype(np.float64)
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    v = vt[:k].T
    t = test.x.reshape(len(test), -1).astype(np.float64)
    recon = (t - mean) @ v @ v.T + mean
    return float(((recon - t) ** 2).mean()), v


def max_principal_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Largest principal angle between the column spaces of ``a`` and ``b``, degrees."""
    from scipy.linalg import subspace_angles

    return float(np.degrees(subspace_angles(a, b).max()))


def raw_output(model: Model, x: np.ndarray) -> np.ndarray:
    """The main chain's output for ``x`` as it is (`Model.predict` fills a spec's
    ``inpaint_hole`` into the input; this does not)."""
    for name in model.spec.main_chain:
        x = model.predict(x, network=name)
    return x


def evaluate(
    model: Model, test: D.Dataset, recipe: Recipe, train: D.Dataset | None = None
) -> dict[str, Any]:
    """The metrics in the module docstring for a reconstruction model."""
    x = test.x
    out: dict[str, Any] = {}
    rng = D.noise_stream(EVAL_SEED, "evaluate")
    hole = recipe.hole or float(model.spec.options.get("inpaint_hole", 0.0))
    if recipe.corruption == "patches":
        mask = patch_mask(x.shape, recipe.patch_grid, recipe.mask_prob, rng)
        raw = raw_output(model, apply_hole(x, mask))
        patches_mse = float((((raw - x) * mask) ** 2).sum() / mask.sum())
        out.update(patches_mse=patches_mse, patches_psnr=psnr(patches_mse))
    if hole > 0:
        mask = hole_mask(x.shape, hole)
        filled = model.predict(x)
        hole_mse = float((((filled - x) * mask) ** 2).sum() / mask.sum())
        out.update(hole_mse=hole_mse, hole_psnr=psnr(hole_mse))
        if train is not None:
            mean_img = train.x.mean(axis=0, keepdims=True)
            base = float((((mean_img - x) * mask) ** 2).sum() / mask.sum())
            out.update(mean_fill_mse=base, mean_fill_psnr=psnr(base))
        return out
    y = model.predict(x)
    mse = float(((y - x) ** 2).mean())
    out.update(test_mse=mse, psnr=psnr(mse))
    noisy_recipe = (
        recipe
        if recipe.corruption != "none"
        else recipe.with_(corruption="gaussian", noise_std=0.3)
    )
    noisy, _ = corrupt(x, noisy_recipe, rng)
    out["noisy_mse"] = float(((model.predict(noisy) - x) ** 2).mean())
    out["noisy_input_mse"] = float(((noisy - x) ** 2).mean())
    if len(model.spec.main_chain) > 1:
        code = model.predict(x, network=model.spec.main_chain[0])
        out["code_sparsity"] = float((np.abs(code) < SPARSE_THRESHOLD).mean())
        out["code_mean_abs"] = float(np.abs(code).mean())
    return out
