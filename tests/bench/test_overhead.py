"""The harness-overhead measurement times `fit`'s own loop, and refuses what it cannot
compare."""

from __future__ import annotations

import pytest

import triptych
from triptych.bench.overhead import loop_recipe, synthetic_data, triptych_loop
from triptych.training.loop import fit


def test_the_measured_loop_is_fits_loop() -> None:
    pytest.importorskip("torch")
    recipe = loop_recipe("classifier", batch=8, steps=3, optimizer="adam")
    model = triptych.create("classifier", framework="torch", seed=0)
    data = synthetic_data(model, 32)
    run, history = triptych_loop(model, recipe, data)
    run(3)
    run(2)  # two blocks, as the measurement times them
    again = triptych.create("classifier", framework="torch", seed=0)
    want = fit(again, data, recipe, 5, progress=False)
    assert [r["loss"] for r in history] == [r["loss"] for r in want]  # bitwise


def test_adversarial_models_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="gan: no hand-written loop for adversarial"):
        loop_recipe("gan", batch=8, steps=3, optimizer="adam")
