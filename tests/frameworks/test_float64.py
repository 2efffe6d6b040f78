"""float64 builds: every backend builds, runs and trains any spec in float64 (the oracle that
parity bounds are derived from), and agrees with PyTorch's float64 build to float64 rounding.

Bounds: a float64 forward of these small networks rounds at ~1e-16 relative per op, so two
float64 builds that sum in different orders differ by ~1e-14 at most; 1e-10 is a million
times tighter than the float32 differences the same builds show (1e-7 to 1e-6) and so tells
a float64 build from a float32 one hiding behind a cast.
"""

from __future__ import annotations

import numpy as np
import pytest

import triptych
from triptych.common import spec as S
from triptych.common.init import init_weights
from triptych.common.recipe import Optimizer
from triptych.model import Model

#: float64 vs float64 (see the module docstring)
F64_ATOL = 1e-10


def _graph_spec() -> S.ModelSpec:
    x = S.Input((1, 8, 8))
    a = S.Conv2d(4, kernel=3, padding=1, name="stem")(x)
    h = S.Conv2d(4, kernel=3, padding=1)(S.ReLU()(S.BatchNorm()(a)))
    y = S.ReLU()(S.Add()([a, h]))
    p = S.MaxPool2d(2)(y)
    c = S.Concat()([S.Upsample(2)(p), y])
    out = S.Dense(10)(S.GlobalAvgPool()(c))
    return S.ModelSpec("f64_graph", networks={"net": S.Network("net", inputs=x, outputs=out)})


SPECS = {
    "classifier": lambda: triptych.create("classifier", framework="torch").spec,
    "conv_autoencoder": lambda: triptych.create("conv_autoencoder", framework="torch").spec,
    "graph": _graph_spec,
}


def _batch(spec: S.ModelSpec, n: int = 4) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.random((n, *spec.input_shape))


def _target(spec: S.ModelSpec, n: int = 4) -> tuple[str, np.ndarray]:
    if spec.output_shape == spec.input_shape:
        return "mse", _batch(spec, n)
    return "cross_entropy", np.random.default_rng(1).integers(0, spec.output_shape[0], n)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_float64_forward_and_weights(framework: str, name: str) -> None:
    spec = SPECS[name]()
    start = {k: v.astype(np.float64) for k, v in init_weights(spec, 0).items()}
    m64 = Model(spec, framework, weights=start, dtype="float64")
    ref = Model(spec, "torch", weights=start, dtype="float64")
    got = m64.get_weights()
    assert all(v.dtype == np.float64 for v in got.values()), {k: v.dtype for k, v in got.items()}
    for k, v in start.items():  # a bit-exact round trip of float64 weights
        np.testing.assert_array_equal(got[k], v, err_msg=k)
    x = _batch(spec)
    y64, yref = m64.predict(x), ref.predict(x)
    assert y64.dtype == np.float64
    np.testing.assert_allclose(y64, yref, atol=F64_ATOL, rtol=0)
    y32 = Model(spec, framework, weights=start).predict(x)
    assert y32.dtype == np.float32
    # really float64 inside: float32 sits ~1e-7 away, far beyond float64 rounding
    assert np.abs(y32 - y64).max() > 100 * F64_ATOL


#: a parameter torch's float64 Adam moves less than this over 3 steps of lr 0.01 (a real
#: gradient moves it ~lr a step) has a zero exact gradient (a conv bias before BatchNorm):
#: Adam divides float64 rounding noise (~1e-14) by itself and each build moves it ~1e-8
#: its own way, so it is not compared (`triptych.verify.oracle` names such parameters)
ZERO_GRADIENT_MOVE = 1e-6


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_float64_training_matches_torch(framework: str, name: str, optimizer: str) -> None:
    spec = SPECS[name]()
    start = init_weights(spec, 0)
    loss, target = _target(spec)
    x = _batch(spec)
    runs = {}
    for fw in dict.fromkeys([framework, "torch"]):
        model = Model(spec, fw, weights=start, dtype="float64")
        step = model.make_trainer(loss, Optimizer(optimizer, 0.01), exact_dropout=True)
        losses = [step(x, target) for _ in range(3)]
        runs[fw] = (np.array(losses), model.get_weights(), model.backend.bn_running_var)
    losses, weights, estimator = runs[framework]
    ref_losses, ref_weights, ref_estimator = runs["torch"]
    np.testing.assert_allclose(losses, ref_losses, atol=0, rtol=F64_ATOL)
    for k, v in ref_weights.items():
        assert weights[k].dtype == np.float64, k
        if k.endswith("running_var") and estimator != ref_estimator:
            continue  # Gluon's biased estimator vs PyTorch's unbiased one, kept in float64
        atol = F64_ATOL
        if optimizer == "adam" and k.endswith("running_mean"):
            # follows the zero-gradient conv bias before it: 3 steps of momentum 0.1 times
            # that bias's build-to-build difference (<= 1.6e-9 measured) stay below 1e-9
            atol = 1e-9
        elif optimizer == "adam" and np.abs(v - start[k]).max() < ZERO_GRADIENT_MOVE:
            continue
        np.testing.assert_allclose(weights[k], v, atol=atol, rtol=0, err_msg=k)


def test_unknown_dtype_is_refused_with_the_allowed_ones() -> None:
    spec = _graph_spec()
    with pytest.raises(ValueError, match="float16.*allowed: float32, float64"):
        Model(spec, "torch", dtype="float16")
