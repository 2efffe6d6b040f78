"""Random-shift augmentation and MAE patch masks: drawn per step from the common stream (so
every framework and every data-parallel worker sees the same batch), the pixels only moved
or zeroed, never changed."""

from __future__ import annotations

import numpy as np
import pytest

from triptych.common.datasets.stream import noise_stream
from triptych.common.recipe import Recipe
from triptych.engine.augment import augment, random_shift
from triptych.engine.corrupt import corrupt, patch_mask


def _digits(n: int = 16) -> np.ndarray:
    return np.random.default_rng(3).random((n, 1, 8, 8)).astype(np.float32)


def test_shift_moves_each_image_by_at_most_max_px_and_keeps_its_pixels() -> None:
    x = _digits()
    y = random_shift(x, 1, noise_stream(0, "t"))
    assert y.shape == x.shape and y.dtype == x.dtype
    for xi, yi in zip(x[:, 0], y[:, 0], strict=True):
        found = [
            (dy, dx)
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if np.array_equal(yi, np.pad(xi, 1)[1 - dy : 9 - dy, 1 - dx : 9 - dx])
        ]
        assert found, "an augmented image is not a shift of at most 1 px of its original"
    assert not np.array_equal(x, y)  # 16 images: some moved


def test_augment_is_the_same_batch_for_the_same_step_and_seed() -> None:
    x = _digits()
    a, b = augment(x, 2, seed=7, step=5), augment(x, 2, seed=7, step=5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, augment(x, 2, seed=7, step=6))
    assert augment(x, 0, seed=7, step=5) is x


def test_recipe_refuses_a_negative_shift() -> None:
    with pytest.raises(ValueError, match="shift must be >= 0"):
        Recipe(kind="supervised", shift=-1)


def test_patch_mask_zeroes_the_asked_share_of_whole_cells() -> None:
    mask = patch_mask((5, 1, 8, 8), 4, 0.75, np.random.default_rng(0))
    cells = mask[:, 0].reshape(5, 4, 2, 4, 2)
    assert np.all(cells.min(axis=(2, 4)) == cells.max(axis=(2, 4)))  # whole 2x2 cells
    assert np.all(cells[:, :, 0, :, 0].reshape(5, -1).sum(axis=1) == 12)  # 75 % of 16
    with pytest.raises(ValueError, match="patch_grid 3 must divide"):
        patch_mask((1, 1, 8, 8), 3, 0.5, np.random.default_rng(0))


def test_patches_corruption_zeroes_the_masked_cells_and_weights_only_them() -> None:
    x = _digits(4) + 0.5
    recipe = Recipe(corruption="patches", mask_prob=0.5, patch_grid=4)
    x_in, weight = corrupt(x, recipe, np.random.default_rng(1))
    assert weight is not None and weight.mean() == pytest.approx(0.5)
    np.testing.assert_array_equal(x_in[weight == 1], 0.0)
    np.testing.assert_array_equal(x_in[weight == 0], x[weight == 0])
