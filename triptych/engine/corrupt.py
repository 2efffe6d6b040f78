"""Input corruptions, drawn from the common seeded stream so every framework sees the same
numbers: Gaussian noise, masking noise (denoising autoencoders) and the centre hole (context
encoders). Images are NCHW in [0, 1]."""

from __future__ import annotations

import numpy as np

from triptych.common.recipe import Recipe


def gaussian(x: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """x + N(0, std²), clipped to [0, 1]."""
    noise = rng.standard_normal(x.shape).astype(np.float32) * np.float32(std)
    return np.clip(x + noise, 0.0, 1.0).astype(np.float32)


def masking(x: np.ndarray, prob: float, rng: np.random.Generator) -> np.ndarray:
    """Each pixel set to 0 with probability ``prob`` (Vincent et al. 2008)."""
    keep = rng.random(x.shape) >= prob
    return (x * keep).astype(np.float32)


def hole_mask(shape: tuple[int, ...], fraction: float) -> np.ndarray:
    """1 inside the centred square hole (side = fraction of H and W, at least 1 px), else 0;
    broadcast to ``shape`` (N, C, H, W)."""
    h, w = shape[-2], shape[-1]
    hh, hw = max(1, round(h * fraction)), max(1, round(w * fraction))
    top, left = (h - hh) // 2, (w - hw) // 2
    mask = np.zeros(shape, np.float32)
    mask[..., top : top + hh, left : left + hw] = 1.0
    return mask


def apply_hole(x: np.ndarray, mask: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """The image with the hole replaced by ``fill``."""
    return (x * (1.0 - mask) + np.float32(fill) * mask).astype(np.float32)


def patch_mask(
    shape: tuple[int, ...], grid: int, fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """1 on the pixels of round(``fraction`` · grid²) cells (at least 1) of each image's
    ``grid`` × ``grid`` partition, drawn per image, else 0; (N, C, H, W). H and W must be
    multiples of ``grid`` (the cells are the patches of a ViT with patch H/grid)."""
    n, _, h, w = shape
    if h % grid or w % grid:
        raise ValueError(f"patch_grid {grid} must divide the image's {h}x{w}")
    cells = grid * grid
    count = min(cells, max(1, round(fraction * cells)))
    chosen = np.argsort(rng.random((n, cells)), axis=1)[:, :count]
    flat = np.zeros((n, cells), np.float32)
    np.put_along_axis(flat, chosen, 1.0, axis=1)
    cell = flat.reshape(n, 1, grid, 1, grid, 1)
    mask = np.broadcast_to(cell, (n, 1, grid, h // grid, grid, w // grid))
    return np.broadcast_to(mask.reshape(n, 1, h, w), shape).astype(np.float32)


def corrupt(
    x: np.ndarray, recipe: Recipe, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """(network input, loss weight) for one batch: weight is the hole mask for context
    encoders (loss on the hole only) and the zeroed cells for ``patches`` (a masked
    autoencoder: loss on the masked patches only), else None (loss on every pixel)."""
    if recipe.hole > 0:
        mask = hole_mask(x.shape, recipe.hole)
        return apply_hole(x, mask), mask
    if recipe.corruption == "gaussian":
        return gaussian(x, recipe.noise_std, rng), None
    if recipe.corruption == "masking":
        return masking(x, recipe.mask_prob, rng), None
    if recipe.corruption == "patches":
        mask = patch_mask(x.shape, recipe.patch_grid, recipe.mask_prob, rng)
        return apply_hole(x, mask), mask
    return x, None
