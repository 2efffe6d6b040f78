"""What is Sonnet's own in the sonnet backend (the shared suite covers the rest): the alias,
models built from Sonnet's modules, Sonnet's native optimizers with their state, and the
BatchNorm that follows PyTorch's convention where ``snt.BatchNorm`` would not."""

from __future__ import annotations

import numpy as np
import pytest

import triptych
from triptych.common import spec as S
from triptych.common.recipe import Optimizer
from triptych.frameworks.base import get_backend, resolve, unavailable_reason

pytestmark = pytest.mark.skipif(
    unavailable_reason("sonnet") is not None, reason=str(unavailable_reason("sonnet"))
)

NET = S.Network(
    "net",
    (1, 6, 6),
    [S.Conv2d(3, 3, stride=2, padding=1), S.BatchNorm(), S.ReLU(), S.Flatten(), S.Dense(4)],
)
SPEC = S.single(NET, "snt_small")
X = np.random.default_rng(0).standard_normal((8, 1, 6, 6)).astype(np.float32)
Y = np.random.default_rng(1).standard_normal((8, 4)).astype(np.float32)


def test_alias_and_sonnet_modules():
    assert resolve("snt") == resolve("SONNET") == "sonnet"
    snt = pytest.importorskip("sonnet")
    built = triptych.create(SPEC, framework="snt").built("net")
    assert isinstance(built.native, snt.Module)
    kinds = [type(m).__name__ for m in built.holders.values()]
    assert kinds == ["Conv2D", "TorchBatchNorm", "Linear"]


def test_native_adam_state_round_trips_and_refuses_a_wrong_one():
    """``adam_native`` is ``snt.optimizers.Adam``: two steps, state saved; a fresh step
    object loaded with it takes the third step exactly like the original."""
    w0 = triptych.create(SPEC, framework="sonnet", seed=0).get_weights()
    train = get_backend("sonnet").train
    opt = Optimizer("adam_native", 1e-2)
    a = triptych.create(SPEC, framework="sonnet", weights=w0)
    step_a = train.make_trainer([a.built("net")], "mse", opt)
    step_a(X, Y), step_a(X, Y)
    state = step_a.state()
    assert int(state["sonnet.0000"]) == 2 and len(state) == 1 + 2 * 6  # step, m and v
    b = triptych.create(SPEC, framework="sonnet", weights=a.get_weights())
    step_b = train.make_trainer([b.built("net")], "mse", opt)
    step_b.load_state(state)
    assert step_a(X, Y) == step_b(X, Y)
    for k, v in a.get_weights().items():
        assert np.array_equal(v, b.get_weights()[k]), k
    with pytest.raises(ValueError, match="optimizer state has 2 tensors, expected 13"):
        step_b.load_state({"sonnet.0000": state["sonnet.0000"], "x": state["sonnet.0001"]})


def test_batchnorm_running_stats_follow_pytorch_from_loaded_values():
    """A loaded running mean/var moves by PyTorch's rule (momentum 0.1, unbiased batch
    variance) in one train-mode forward; ``snt.BatchNorm``'s debiased moving average
    would replace the loaded values by the batch's after one update."""
    m = triptych.create(S.single(S.Network("net", (3, 4, 4), [S.BatchNorm()]), "bn"), "sonnet")
    mean0, var0 = np.full(3, 0.5, np.float32), np.full(3, 2.0, np.float32)
    m.set_weights({**m.get_weights(), "net.0.running_mean": mean0, "net.0.running_var": var0})
    x = np.random.default_rng(2).standard_normal((5, 3, 4, 4)).astype(np.float32) * 3 + 1
    m.forward(x, "net", training=True)
    got = m.get_weights()
    axes = (0, 2, 3)
    np.testing.assert_allclose(got["net.0.running_mean"], 0.9 * mean0 + 0.1 * x.mean(axes), 1e-6)
    unbiased = x.astype(np.float64).var(axes, ddof=1)
    np.testing.assert_allclose(got["net.0.running_var"], 0.9 * var0 + 0.1 * unbiased, 1e-6)
