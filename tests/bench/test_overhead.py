"""The harness-overhead measurement times `fit`'s own loop, and refuses what it cannot
compare."""

from __future__ import annotations

import pytest

import triptych
from triptych.bench.overhead import loop_recipe, synthetic_data, triptych_loop
from triptych.common import data as D
from triptych.engine.loop import fit
from triptych.engine.trainer import Trainer


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


@pytest.mark.parametrize("framework", ["tensorflow", "sonnet"])
def test_the_measured_loop_is_fits_loop_with_masks_drawn_ahead(framework: str) -> None:
    """TensorFlow and Sonnet hand exact Dropout's masks to the step, drawn 16 steps at a
    time with the next block on a helper thread: still bitwise `fit`'s numbers, over more
    than one block and across the measurement's blocks of steps."""
    if framework not in triptych.frameworks():
        pytest.skip(f"{framework} is not installed")
    recipe = loop_recipe("classifier", batch=8, steps=3, optimizer="adam")
    model = triptych.create("classifier", framework=framework, seed=0)
    data = synthetic_data(model, 32)
    run, history = triptych_loop(model, recipe, data)
    for n in (3, 15, 2):  # 20 steps: the second block of masks comes from the helper
        run(n)
    # the reference: each step's masks drawn at the step and assigned (not handed over)
    again = triptych.create("classifier", framework=framework, seed=0)
    trainer = Trainer(again, recipe, seed=0, exact_dropout=True)
    stream = D.batches(data, recipe.batch, seed=0)
    want = [trainer.step(s, next(stream), lambda: next(stream)) for s in range(1, 21)]
    assert [r["loss"] for r in history] == [w["loss"] for w in want]  # bitwise


def test_adversarial_models_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="gan: no hand-written loop for adversarial"):
        loop_recipe("gan", batch=8, steps=3, optimizer="adam")


def test_sonnet_is_measured_with_lazy_steps_and_a_hand_written_loop() -> None:
    if "sonnet" not in triptych.frameworks():
        pytest.skip("sonnet is not installed")
    from triptych.bench.overhead import _hand_loop

    recipe = loop_recipe("classifier", batch=8, steps=2, optimizer="adam")
    model = triptych.create("classifier", framework="sonnet", seed=0)
    data = synthetic_data(model, 32)
    _hand_loop(model, recipe, data)(2)  # the textbook Sonnet step (train.hand_train_step)
    trainer = Trainer(model, recipe, lazy=True)
    x, y = data.x[:8], data.y[:8]
    value = trainer.step(1, (x, y), lambda: (x, y))["loss"]
    assert not isinstance(value, float)  # a tensor, read back when the loop logs
    assert trainer.to_floats([value]) == [float(value)]
