"""Level 4 through graphs: 20 SGD steps through a residual Add (with BatchNorm and a strided
1x1 projection) and through skip Concats with Upsample, every framework pair, per-step loss
within the default level-4 bound (1e-6) and final weights within the default tolerance."""

import pytest

import triptych
from triptych.common import spec as S
from triptych.verify.training import training_parity


def residual() -> S.ModelSpec:
    x = S.Input((4, 8, 8))
    h = S.ReLU()(S.BatchNorm()(S.Conv2d(8, 3, 2, 1, bias=False)(x)))
    h = S.BatchNorm()(S.Conv2d(8, 3, 1, 1, bias=False)(h))
    shortcut = S.BatchNorm()(S.Conv2d(8, 1, 2, 0, bias=False, name="proj")(x))
    y = S.ReLU()(S.Add()([h, shortcut]))
    return S.single(S.Network("net", inputs=x, outputs=S.Dense(5)(S.GlobalAvgPool()(y))), "res")


def skip_concat() -> S.ModelSpec:
    x = S.Input((2, 8, 8))
    e = S.ReLU()(S.Conv2d(4, 3, 1, 1)(x))
    d = S.ReLU()(S.Conv2d(8, 3, 1, 1)(S.MaxPool2d(2)(e)))
    u = S.Concat()([S.Upsample(2)(d), e, x])
    return S.single(S.Network("net", inputs=x, outputs=S.Sigmoid()(S.Conv2d(2, 1)(u))), "skip")


@pytest.mark.parametrize("make", [residual, skip_concat], ids=["add", "concat"])
def test_twenty_sgd_steps_through_a_graph_agree(make):
    fws = triptych.frameworks()
    if len(fws) < 2:
        pytest.skip(reason=f"training parity needs two frameworks; have {fws}")
    run, checks = training_parity(make(), fws, steps=20, lr=0.05)
    losses = run.losses[fws[0]]
    assert losses[-1] < losses[0]  # it learned something
    for c in checks:
        if c.network == "loss":
            assert c.passed and c.oracle is not None, (c.pair, c.comparison.failures())
        if c.network == "weights":
            assert c.passed, (c.pair, c.max_abs)
