"""`MasksAhead`: exact Dropout's masks drawn a few steps at a time are bitwise the masks of
`dropout_masks` drawn at each step, whatever order the steps are asked for in."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from triptych.common import spec as S
from triptych.common.dropout import dropout_masks
from triptych.engine.masks import MasksAhead

NET = S.Network("net", (2, 4, 4), [S.Dropout(0.3), S.Flatten(), S.Dense(8), S.Dropout(0.5)])


def _same(a: dict[str, dict[int, np.ndarray]], b: dict[str, dict[int, np.ndarray]]) -> bool:
    return sorted(a) == sorted(b) and all(
        sorted(a[n]) == sorted(b[n])
        and all(
            a[n][i].dtype == b[n][i].dtype and a[n][i].tobytes() == b[n][i].tobytes() for i in a[n]
        )
        for n in a
    )


@pytest.mark.parametrize("background", [True, False])
def test_masks_drawn_ahead_are_the_masks_of_each_step_bitwise(background: bool) -> None:
    ahead = MasksAhead({"net": NET}, max_steps=4, background=background)
    asked = [(0, 1, 6), (0, 2, 6), (0, 3, 6), (0, 4, 6), (0, 5, 6), (0, 6, 6), (0, 6, 6)]
    asked += [(0, 9, 6), (3, 10, 6), (3, 11, 5), (3, 12, 5), (0, 1, 6)]  # jumps, seed, batch
    for seed, step, batch in asked:
        assert _same(ahead.get(seed, step, batch), {"net": dropout_masks(NET, batch, seed, step)})
    ahead.close()
    assert _same(ahead.get(0, 2, 6), {"net": dropout_masks(NET, 6, 0, 2)})  # in place now


def test_prepare_runs_once_per_step_and_memory_is_bounded() -> None:
    calls: list[int] = []

    def prepare(masks: dict[str, dict[int, np.ndarray]]) -> dict[str, dict[int, np.ndarray]]:
        calls.append(1)
        return masks

    ahead = MasksAhead({"net": NET}, prepare, max_steps=16, max_bytes=10_000, background=False)
    per_step = 4 * 6 * (32 + 8)  # float32 masks of a batch of 6: 2x4x4 and 8 features
    assert ahead.steps_per_draw(6) == 10_000 // per_step
    for s in range(1, 21):
        ahead.get(0, s, 6)
    assert len(calls) == 2 * ahead.steps_per_draw(6)  # two draws cover steps 1 .. 20
    assert MasksAhead({"net": NET}, max_bytes=1).steps_per_draw(6) == 1


def test_the_helper_thread_ends_with_its_owner() -> None:
    def helpers() -> int:
        return sum(t.name == "triptych-prefetch" for t in threading.enumerate())

    before = helpers()
    ahead = MasksAhead({"net": NET}, max_steps=2)
    for s in range(1, 6):
        ahead.get(0, s, 3)
    assert helpers() == before + 1
    thread = next(t for t in threading.enumerate() if t.name == "triptych-prefetch")
    del ahead
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_an_error_in_the_helper_thread_is_raised_by_get() -> None:
    calls: list[int] = []

    def prepare(masks: dict[str, dict[int, np.ndarray]]) -> dict[str, dict[int, np.ndarray]]:
        calls.append(1)
        if len(calls) == 3:  # the first step of the second block, on the helper thread
            raise RuntimeError("prepare failed")
        return masks

    ahead = MasksAhead({"net": NET}, prepare, max_steps=2)
    ahead.get(0, 1, 3)
    ahead.get(0, 2, 3)
    with pytest.raises(RuntimeError, match="prepare failed"):
        ahead.get(0, 3, 3)
