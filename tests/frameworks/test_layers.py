"""Every layer alone and two deep mixed networks: all frameworks from the same canonical
weights agree to 1e-5 in eval and train mode; weights round-trip bitwise; param counts."""

import numpy as np
import pytest

import triptych
from triptych.common import spec as S
from triptych.common.init import init_weights
from triptych.frameworks.base import get_backend

ATOL = 1e-5

LAYER_CASES = {
    "dense": ((12,), [S.Dense(7)]),
    "dense_nobias": ((12,), [S.Dense(7, bias=False)]),
    "conv2d_s1": ((3, 7, 7), [S.Conv2d(5, kernel=3)]),
    "conv2d_s2_p1": ((3, 8, 8), [S.Conv2d(4, kernel=3, stride=2, padding=1)]),
    "conv2d_odd_s2": ((2, 9, 9), [S.Conv2d(3, kernel=5, stride=2, padding=2)]),
    "conv_transpose2d_k4s2p1": ((4, 5, 5), [S.ConvTranspose2d(3, kernel=4, stride=2, padding=1)]),
    "conv_transpose2d_k3s1p0": ((2, 4, 4), [S.ConvTranspose2d(3, kernel=3, stride=1, padding=0)]),
    "batchnorm2d": ((3, 6, 6), [S.BatchNorm()]),
    "batchnorm1d": ((10,), [S.BatchNorm()]),
    "relu": ((3, 5, 5), [S.ReLU()]),
    "leaky_relu": ((3, 5, 5), [S.LeakyReLU(0.2)]),
    "sigmoid": ((3, 5, 5), [S.Sigmoid()]),
    "tanh": ((3, 5, 5), [S.Tanh()]),
    "flatten": ((3, 4, 5), [S.Flatten()]),
    "unflatten": ((60,), [S.Unflatten((3, 4, 5))]),
    "maxpool2d": ((3, 8, 8), [S.MaxPool2d(2)]),
    "maxpool2d_k3s2": ((2, 9, 9), [S.MaxPool2d(3, stride=2)]),
    "dropout": ((3, 5, 5), [S.Dropout(0.3)]),
    "maxpool2d_k3s2p1": ((2, 8, 8), [S.MaxPool2d(3, stride=2, padding=1)]),
    "avgpool2d": ((3, 8, 8), [S.AvgPool2d(2)]),
    "avgpool2d_k3s2p1": ((2, 9, 9), [S.AvgPool2d(3, stride=2, padding=1)]),
    "global_avgpool": ((4, 5, 6), [S.GlobalAvgPool()]),
    "identity": ((3, 4, 4), [S.Identity()]),
    "upsample_nearest": ((2, 3, 4), [S.Upsample(2)]),
    "upsample_bilinear": ((2, 3, 4), [S.Upsample(2, mode="bilinear")]),
    "named_conv": ((2, 5, 5), [S.Conv2d(3, kernel=3, name="stem"), S.BatchNorm(name="bn")]),
}


def _residual() -> S.Network:
    x = S.Input((4, 6, 6))
    h = S.Conv2d(4, kernel=3, padding=1)(S.ReLU()(S.BatchNorm()(x)))
    return S.Network("net", inputs=x, outputs=S.ReLU()(S.Add()([h, x])))


def _concat_skip() -> S.Network:
    x = S.Input((3, 8, 8))
    down = S.Conv2d(4, kernel=3, stride=2, padding=1, name="down")(x)
    c = S.Concat()([S.Upsample(2)(down), x])
    return S.Network("net", inputs=x, outputs=S.Conv2d(2, kernel=1)(c))


def _concat_flat() -> S.Network:
    x = S.Input((6,))
    return S.Network("net", inputs=x, outputs=S.Dense(3)(S.Concat()([S.Dense(4)(x), x])))


def _pools_gap() -> S.Network:
    x = S.Input((3, 9, 9))
    a = S.MaxPool2d(3, stride=2, padding=1)(x)
    b = S.AvgPool2d(3, stride=2, padding=1)(x)
    return S.Network("net", inputs=x, outputs=S.Dense(5)(S.GlobalAvgPool()(S.Add()([a, b]))))


def _three_way_upsample() -> S.Network:
    x = S.Input((2, 4, 4))
    ups = [S.Upsample(2, mode="bilinear")(x), S.Upsample(2)(x), S.Upsample(2)(x)]
    return S.Network("net", inputs=x, outputs=S.Conv2d(3, kernel=3, padding=1)(S.Add()(ups)))


def _flatten_in_graph() -> S.Network:
    x = S.Input((2, 3, 3))
    a = S.Dense(4)(S.Flatten()(S.Conv2d(2, kernel=1)(x)))
    b = S.Dense(4, name="skip")(S.Flatten()(x))
    return S.Network("net", inputs=x, outputs=S.Concat()([a, b]))


def _concat_h() -> S.Network:
    x = S.Input((2, 3, 4))
    return S.Network("net", inputs=x, outputs=S.Concat(axis=2)([x, S.Conv2d(2, 1)(x)]))


#: graphs (the functional form): residual, skip concat, merges of every kind
GRAPH_CASES = {
    "graph_residual_bn": _residual,
    "graph_concat_skip": _concat_skip,
    "graph_concat_flat": _concat_flat,
    "graph_pools_gap": _pools_gap,
    "graph_three_way_upsample_add": _three_way_upsample,
    "graph_flatten_dense_concat": _flatten_in_graph,
    "graph_concat_height": _concat_h,
}

DEEP_CASES = {
    "conv_bn_lrelu_pool_dense": (
        (1, 12, 12),
        [
            S.Conv2d(8, kernel=3, stride=1, padding=1),
            S.BatchNorm(),
            S.LeakyReLU(0.2),
            S.MaxPool2d(2),
            S.Conv2d(6, kernel=3, stride=2, padding=1),
            S.BatchNorm(),
            S.LeakyReLU(0.2),
            S.Flatten(),
            S.Dense(10),
        ],
    ),
    "dense_unflatten_convT_bn_relu_convT_tanh": (
        (16,),
        [
            S.Dense(8 * 3 * 3),
            S.BatchNorm(),
            S.ReLU(),
            S.Unflatten((8, 3, 3)),
            S.ConvTranspose2d(4, kernel=4, stride=2, padding=1),
            S.BatchNorm(),
            S.ReLU(),
            S.ConvTranspose2d(2, kernel=4, stride=2, padding=1),
            S.Tanh(),
        ],
    ),
    # Flatten/Unflatten that do not touch a Dense: Keras must transpose explicitly.
    "flatten_then_unflatten": (
        (2, 3, 4),
        [
            S.Flatten(),
            S.ReLU(),
            S.Unflatten((2, 3, 4)),
            S.Conv2d(3, kernel=3, padding=1),
            S.Flatten(),
        ],
    ),
}
ALL_CASES = {**LAYER_CASES, **DEEP_CASES, **GRAPH_CASES}


def _spec(case: str) -> S.ModelSpec:
    if case in GRAPH_CASES:
        return S.single(GRAPH_CASES[case](), case)
    shape, layers = ALL_CASES[case]
    return S.single(S.Network("net", shape, layers), case)


def _weights(spec: S.ModelSpec, seed: int = 0) -> dict[str, np.ndarray]:
    """Canonical init with non-trivial BN statistics so eval mode exercises them."""
    w = init_weights(spec, seed)
    rng = np.random.default_rng(seed)
    for k in w:
        if k.endswith(("running_mean", "bias")) and "running" in k:
            w[k] = rng.normal(0, 0.5, w[k].shape).astype(np.float32)
        if k.endswith("running_var"):
            w[k] = rng.uniform(0.5, 2.0, w[k].shape).astype(np.float32)
        if k.endswith("weight") and w[k].ndim == 1:  # BN gamma
            w[k] = rng.uniform(0.5, 1.5, w[k].shape).astype(np.float32)
    return w


def _input(spec: S.ModelSpec, batch: int = 8, seed: int = 1) -> np.ndarray:
    return (
        np.random.default_rng(seed).standard_normal((batch, *spec.input_shape)).astype(np.float32)
    )


def _pair(case: str, pair: tuple[str, str]):
    spec = _spec(case)
    w = _weights(spec)
    return (
        triptych.create(spec, framework=pair[0], weights=w),
        triptych.create(spec, framework=pair[1], weights=w),
        spec,
        w,
    )


@pytest.mark.parametrize("case", list(ALL_CASES))
def test_eval_mode_agrees(case, framework_pair):
    a, b, spec, _ = _pair(case, framework_pair)
    x = _input(spec)
    ya, yb = a.predict(x), b.predict(x)
    assert ya.shape == yb.shape == (8, *spec.output_shape)
    np.testing.assert_allclose(ya, yb, rtol=0, atol=ATOL)


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c != "dropout"])
def test_train_mode_agrees_and_running_stats_follow_each_estimator(case, framework_pair):
    a, b, spec, _ = _pair(case, framework_pair)
    x = _input(spec)
    ya = a.forward(x, "net", training=True)
    yb = b.forward(x, "net", training=True)
    np.testing.assert_allclose(ya, yb, rtol=0, atol=ATOL)
    wa, wb = a.get_weights(), b.get_weights()
    for key in wa:
        if not key.endswith("running_var"):
            np.testing.assert_allclose(wa[key], wb[key], rtol=0, atol=ATOL, err_msg=key)
            continue
        # Running variance: PyTorch's rule (unbiased batch variance) unless the backend
        # says "biased" (Gluon); the residual is momentum·var_b/(n-1), checked exactly.
        va, vb = (_unbias(wa[key], key, a, spec, x), _unbias(wb[key], key, b, spec, x))
        np.testing.assert_allclose(va, vb, rtol=1e-6, atol=ATOL, err_msg=key)


def _unbias(running_var, key, model, spec, x):
    """Running variance expressed in PyTorch's (unbiased) convention."""
    if get_backend(model.framework).bn_running_var == "unbiased":
        return running_var
    net = spec.networks["net"]
    index = next(i.index for i in net.infos if f"net.{i.key}.running_var" == key)
    layer = net.infos[index].layer
    assert net.infos[index].inputs == (-1,) or net.is_chain, "BN on a branch: not handled here"
    h = x if net.infos[index].inputs == (-1,) else _activations(model, net, x, index)
    axes = (0,) if h.ndim == 2 else (0, 2, 3)
    n = h.size // h.shape[1]
    var_b = h.astype(np.float64).var(axis=axes)
    return running_var + layer.momentum * var_b / (n - 1)


def _activations(model, net, x, index):
    """Input of layer ``index`` in train mode, computed by a truncated network (torch)."""
    sub = S.single(S.Network("net", net.input_shape, net.layers[:index]), "prefix")
    keys = {f"net.{i.key}." for i in net.infos[:index]}
    w = {k: v for k, v in model.get_weights().items() if k[: k.rindex(".") + 1] in keys}
    # running stats do not affect train-mode outputs; reset them to fit the prefix spec
    return triptych.create(
        sub,
        framework=model.framework,
        weights={k: w.get(k, v) for k, v in init_weights(sub, 0).items()},
    ).forward(x, "net", True)


def test_dropout_train_mode_keeps_or_scales_each_element(framework):
    spec = _spec("dropout")
    m = triptych.create(spec, framework=framework)
    x = np.abs(_input(spec, batch=64)) + 0.1
    y = m.forward(x, "net", training=True)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.7, rtol=1e-6)
    assert abs(1 - kept.mean() - 0.3) < 0.03  # 4800 draws: 3 sigma is ~0.02
    np.testing.assert_array_equal(m.predict(x), x)


@pytest.mark.parametrize("case", list(ALL_CASES))
def test_canonical_round_trip_is_bitwise(case, framework):
    spec = _spec(case)
    w = _weights(spec, seed=5)
    back = triptych.create(spec, framework=framework, weights=w).get_weights()
    assert set(back) == set(w)
    for k in w:
        assert back[k].dtype == np.float32 and np.array_equal(back[k], w[k]), k


@pytest.mark.parametrize("case", list(ALL_CASES))
def test_param_counts_match_the_framework(case, framework):
    spec = _spec(case)
    m = triptych.create(spec, framework=framework)
    assert m.param_counts() == {"net": spec.networks["net"].params}
