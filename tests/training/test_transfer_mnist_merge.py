"""Seeds of the real-data transfer table run at different times merge into one table."""

from __future__ import annotations

from dataclasses import replace

import pytest

from triptych.training.transfer_mnist import MNIST_CONFIG, merge_seeds
from triptych.training.transfer_table import TransferCell, TransferTable


def _table(seeds: tuple[int, ...], accuracy: float) -> TransferTable:
    config = replace(MNIST_CONFIG, seeds=seeds)
    cells = [
        TransferCell("fw", variation, k, variant, tuple(accuracy + s for s in seeds))
        for variation in config.variations
        for k in config.ks
        for variant in config.variants
    ]
    return TransferTable(config, cells)


def test_merge_appends_each_cells_runs_in_seed_order() -> None:
    merged = merge_seeds(_table((0,), 0.5), _table((1, 2), 0.5))
    assert merged.config.seeds == (0, 1, 2)
    assert len(merged.cells) == len(_table((0,), 0.5).cells)
    assert all(c.runs == (0.5, 1.5, 2.5) for c in merged.cells)


def test_merge_refuses_overlapping_seeds_and_other_steps() -> None:
    with pytest.raises(ValueError, match=r"seeds \[1\]"):
        merge_seeds(_table((0, 1), 0.5), _table((1, 2), 0.5))
    other = _table((1,), 0.5)
    other.config = replace(other.config, steps=MNIST_CONFIG.steps + 1)
    with pytest.raises(ValueError, match="differ in steps"):
        merge_seeds(_table((0,), 0.5), other)
