"""What is Chainer's own in the chainer backend (the shared suite covers the rest): the
alias, models built from Chainer's links, Chainer's native Adam with its state, BatchNorm's
running statistics in PyTorch's convention, the import-time cures leaving numpy as it was,
and data parallelism refused with the reason."""

from __future__ import annotations

import numpy as np
import pytest

import triptych
from triptych.common import adam
from triptych.common import spec as S
from triptych.common.recipe import Optimizer
from triptych.frameworks.base import get_backend, resolve, unavailable_reason

pytestmark = pytest.mark.skipif(
    unavailable_reason("chainer") is not None, reason=str(unavailable_reason("chainer"))
)

NET = S.Network(
    "net",
    (1, 6, 6),
    [S.Conv2d(3, 3, stride=2, padding=1), S.BatchNorm(), S.ReLU(), S.Flatten(), S.Dense(4)],
)
SPEC = S.single(NET, "ch_small")
X = np.random.default_rng(0).standard_normal((8, 1, 6, 6)).astype(np.float32)
Y = np.random.default_rng(1).standard_normal((8, 4)).astype(np.float32)


def test_alias_and_chainer_links():
    assert resolve("ch") == resolve("Chainer") == "chainer"
    chainer = pytest.importorskip("chainer")
    built = triptych.create(SPEC, framework="ch").built("net")
    assert isinstance(built.native, chainer.Chain)
    kinds = [type(m).__name__ for m in built.native.holders.values()]
    assert kinds == ["Convolution2D", "BatchNormalization", "Linear"]


def test_native_adam_state_round_trips_and_refuses_a_wrong_one():
    """``adam_native`` is Chainer's own Adam rule: two steps, state saved; a fresh step
    object loaded with it takes the third step exactly like the original."""
    w0 = triptych.create(SPEC, framework="chainer", seed=0).get_weights()
    train = get_backend("chainer").train
    opt = Optimizer("adam_native", 1e-2)
    a = triptych.create(SPEC, framework="chainer", weights=w0)
    step_a = train.make_trainer([a.built("net")], "mse", opt)
    step_a(X, Y), step_a(X, Y)
    state = step_a.state()
    assert state[adam.STEP].tolist() == [2] * 6 and len(state) == 1 + 2 * 6
    b = triptych.create(SPEC, framework="chainer", weights=a.get_weights())
    step_b = train.make_trainer([b.built("net")], "mse", opt)
    step_b.load_state(state)
    assert step_a(X, Y) == step_b(X, Y)
    for k, v in a.get_weights().items():
        assert np.array_equal(v, b.get_weights()[k]), k
    with pytest.raises(
        ValueError, match=r"does not fit the optimizer: missing .*unexpected \[.x.\]"
    ):
        step_b.load_state({adam.STEP: state[adam.STEP], "x": state[adam.m_name(0)]})


def test_batchnorm_running_stats_follow_pytorch_from_loaded_values():
    """A loaded running mean/var moves by PyTorch's rule (momentum 0.1 as Chainer's decay
    0.9, unbiased batch variance) in one train-mode forward."""
    m = triptych.create(S.single(S.Network("net", (3, 4, 4), [S.BatchNorm()]), "bn"), "chainer")
    mean0, var0 = np.full(3, 0.5, np.float32), np.full(3, 2.0, np.float32)
    m.set_weights({**m.get_weights(), "net.0.running_mean": mean0, "net.0.running_var": var0})
    x = np.random.default_rng(2).standard_normal((5, 3, 4, 4)).astype(np.float32) * 3 + 1
    m.forward(x, "net", training=True)
    got = m.get_weights()
    axes = (0, 2, 3)
    np.testing.assert_allclose(got["net.0.running_mean"], 0.9 * mean0 + 0.1 * x.mean(axes), 1e-6)
    unbiased = x.astype(np.float64).var(axes, ddof=1)
    np.testing.assert_allclose(got["net.0.running_var"], 0.9 * var0 + 0.1 * unbiased, 1e-6)


def test_cures_leave_numpy_as_it_was_and_bilinear_resize_runs():
    """The ``numpy.float`` cure is local to Chainer's resize function: numpy itself still
    refuses the removed alias, and a bilinear Upsample runs forward and backward."""
    get_backend("chainer")
    assert not hasattr(np, "float")
    net = S.Network("up", (2, 3, 3), [S.Upsample(2, mode="bilinear")])
    m = triptych.create(S.single(net, "up"), "chainer")
    x = np.arange(18, dtype=np.float32).reshape(1, 2, 3, 3)
    y = m.forward(x, "up")
    assert y.shape == (1, 2, 6, 6)
    # half-pixel centres: the top-left output pixel is the top-left input pixel
    assert y[0, 0, 0, 0] == x[0, 0, 0, 0] and y[0, 0, 0, 1] == pytest.approx(0.25)


def test_data_parallel_is_refused_naming_what_is_missing():
    from triptych.common.recipe import Recipe
    from triptych.training import distributed as DP

    recipe = Recipe(kind="supervised", batch=32, optimizer=Optimizer("sgd", 0.1))
    with pytest.raises(ValueError, match="ChainerMN, which needs MPI and mpi4py"):
        DP.check_supported("chainer", recipe, 2, sync_bn=False)
