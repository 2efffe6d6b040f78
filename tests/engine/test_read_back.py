"""The loop reads step values back in bulk (every ``log_every`` steps) and records the very
numbers a step-by-step read-back gives."""

from __future__ import annotations

import pytest

import triptych
from triptych.common import data as D
from triptych.common import zoo
from triptych.engine.loop import fit
from triptych.engine.trainer import Trainer


def _eager_history(model_name: str, framework: str, steps: int) -> list[dict[str, float]]:
    """Trainer with floats per step (no bulk read-back), on the stream `fit` uses."""
    model = triptych.create(model_name, framework=framework, seed=0)
    recipe = zoo.entry(model_name).recipe
    trainer = Trainer(model, recipe, seed=0, exact_dropout=True)
    model.backend.seed_rng(list(model.built_networks().values()), 0)
    stream = D.batches(D.load_digits(recipe.scale), recipe.batch, seed=0)
    return [trainer.step(s, next(stream), lambda: next(stream)) for s in range(1, steps + 1)]


@pytest.mark.parametrize("model_name", ["classifier", "gan"])
def test_bulk_read_back_records_the_same_numbers(model_name: str, framework: str) -> None:
    steps = 4
    recipe = zoo.entry(model_name).recipe.with_(log_every=3)  # flushes after steps 3 and 4
    model = triptych.create(model_name, framework=framework, seed=0)
    history = fit(model, D.load_digits(recipe.scale), recipe, steps, progress=False)
    want = _eager_history(model_name, framework, steps)
    assert [r["step"] for r in history] == list(range(1, steps + 1))
    for record, values in zip(history, want, strict=True):
        assert {k: record[k] for k in values} == values  # bitwise: the same floats
        assert all(type(record[k]) is float for k in values) and record["seconds"] > 0
