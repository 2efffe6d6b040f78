"""Adam state read back from a checkpoint is checked: float32 (a float32 model) or float64
(a float64 build, the parity oracle) throughout, never a mix, int64 step counts."""

import numpy as np
import pytest

from triptych.common.adam import STEP, check_state, m_name, v_name

SHAPES = [(3, 2), (3,)]


def _state(dtype, step=1):
    state = {STEP: np.full(len(SHAPES), step, np.int64)}
    for i, shape in enumerate(SHAPES):
        state[m_name(i)] = np.zeros(shape, dtype)
        state[v_name(i)] = np.zeros(shape, dtype)
    return state


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_precision_throughout_is_accepted(dtype):
    check_state(_state(dtype), SHAPES)


def test_mixed_precision_moments_are_refused_naming_the_tensor():
    state = _state(np.float64)
    state[v_name(1)] = state[v_name(1)].astype(np.float32)
    with pytest.raises(ValueError, match=rf"{v_name(1)}: float32\(3,\), expected float64"):
        check_state(state, SHAPES)


def test_a_negative_step_is_refused():
    with pytest.raises(ValueError, match="negative step"):
        check_state(_state(np.float32, step=-1), SHAPES)
