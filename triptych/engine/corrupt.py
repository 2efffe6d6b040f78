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


def corrupt(
    x: np.ndarray, recipe: Recipe, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """(network input, loss weight) for one batch: weight is the hole mask for context
    encoders (loss on the hole only), else None (loss on every pixel)."""
    if recipe.hole > 0:
        mask = hole_mask(x.shape, recipe.hole)
        return apply_hole(x, mask), mask
    if recipe.corruption == "gaussian":
        return gaussian(x, recipe.noise_std, rng), None
    if recipe.corruption == "masking":
        return masking(x, recipe.mask_prob, rng), None
    return x, None
