"""What is JAX's own in the jax backend (the shared suite covers the rest): the alias and
the registry entry, a network no other test uses built as one function in every installed
framework (exact weight round trip), triptych's Adam in optax against the reference formula,
the optimizer state round trip, jitted steps that do not recompile, the exported (portable)
formulation of grouped convolutions, and the data-parallel engine's wiring."""

from __future__ import annotations

import numpy as np
import pytest

import triptych
from triptych.common import adam
from triptych.common import spec as S
from triptych.common.init import init_weights
from triptych.common.recipe import Optimizer
from triptych.frameworks.base import FRAMEWORKS, get_backend, resolve, unavailable_reason

pytestmark = pytest.mark.skipif(
    unavailable_reason("jax") is not None, reason=str(unavailable_reason("jax"))
)


def _unusual() -> S.Network:
    """A graph no other test builds: a grouped strided conv, LayerNorm2d, HardSwish, a
    ceil-mode max pool, a bilinear upsample concatenated with a dilated conv branch, an
    uneven adaptive pool, then Mish and two Dense layers."""
    x = S.Input((4, 9, 9))
    a = S.HardSwish()(S.LayerNorm2d()(S.Conv2d(8, 3, stride=2, padding=1, groups=2)(x)))
    p = S.MaxPool2d(2, 2, ceil_mode=True)(a)
    up = S.Upsample(2, "bilinear")(p)
    branch = S.Conv2d(4, 3, padding="same", dilation=2)(S.Pad((1, 0, 0, 1), "reflect")(x))
    branch = S.AdaptiveAvgPool2d(6)(branch)
    c = S.Concat()([up, branch])
    y = S.Mish()(S.Dense(12)(S.Flatten()(S.AdaptiveAvgPool2d((3, 2))(c))))
    return S.Network("net", inputs=x, outputs=S.Dense(5)(y))


def test_alias_and_registry():
    assert resolve("flax") == resolve("JAX") == "jax"
    assert "jax" in FRAMEWORKS and "jax" in triptych.frameworks()
    assert get_backend("jax").bn_running_var == "unbiased"


def test_an_unused_network_is_one_function_in_every_framework():
    spec = S.single(_unusual(), "jax_unusual")
    weights = init_weights(spec, seed=5)
    x = np.random.default_rng(2).standard_normal((3, 4, 9, 9)).astype(np.float32)
    outputs = {}
    for fw in triptych.frameworks():
        model = triptych.create(spec, framework=fw, weights=weights)
        back = model.get_weights()
        assert set(back) == set(weights), fw
        for k, v in weights.items():
            assert back[k].dtype == v.dtype and np.array_equal(back[k], v), (fw, k)
        outputs[fw] = model.predict(x)
    ref = outputs["jax"]
    diffs = {fw: float(np.abs(y - ref).max()) for fw, y in outputs.items()}
    assert max(diffs.values()) <= 1e-5, diffs


def test_triptych_adam_is_the_reference_formula():
    """Three optax updates of triptych's Adam on one parameter equal
    `triptych.common.adam.reference_update` to float32 rounding (1 ulp)."""
    net = S.Network("net", (3,), [S.Dense(2, bias=False)])
    spec = S.single(net, "jax_adam")
    w0 = init_weights(spec, seed=0)
    model = triptych.create(spec, framework="jax", weights=w0)
    step = get_backend("jax").train.make_trainer(
        [model.built("net")], "mse", Optimizer("adam", 0.01)
    )
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    y = np.zeros((4, 2), np.float32)
    p = w0["net.0.weight"]
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t in range(1, 4):
        g = (2.0 / y.size) * ((x @ p.T - y).T @ x)  # d mean((x pᵀ)²) / dp
        step(x, y)
        p, m, v = adam.reference_update(p, g.astype(np.float32), m, v, t, 0.01)
        got = model.get_weights()["net.0.weight"]
        assert np.allclose(got, p, rtol=2e-6, atol=1e-7), (t, np.abs(got - p).max())
        p = got


def test_adam_state_round_trips_and_the_step_compiles_once():
    net = S.Network("net", (1, 6, 6), [S.Conv2d(3, 3, 2, 1), S.BatchNorm(), S.ReLU(),
                                       S.Flatten(), S.Dense(4)])  # fmt: skip
    spec = S.single(net, "jax_state")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 1, 6, 6)).astype(np.float32), rng.standard_normal((8, 4))
    train = get_backend("jax").train
    a = triptych.create(spec, framework="jax", seed=0)
    step_a = train.make_trainer([a.built("net")], "mse", Optimizer("adam", 1e-2))
    step_a(x, y), step_a(x, y)
    assert step_a._compiled._cache_size() == 1  # jitted once, not per step
    state = step_a.state()
    assert state[adam.STEP].tolist() == [2] * 6 and len(state) == 1 + 2 * 6
    b = triptych.create(spec, framework="jax", weights=a.get_weights())
    step_b = train.make_trainer([b.built("net")], "mse", Optimizer("adam", 1e-2))
    step_b.load_state(state)
    assert step_a(x, y) == step_b(x, y)
    for k, v in a.get_weights().items():
        assert np.array_equal(v, b.get_weights()[k]), k
    with pytest.raises(ValueError, match="does not fit the optimizer"):
        step_b.load_state({adam.STEP: state[adam.STEP]})


def test_grouped_conv_exports_in_its_portable_form(tmp_path):
    """jax2tf lowers no grouped convolution without XLA: the export writes one convolution
    per group; ORT on the file equals the native (jitted, grouped) forward."""
    import onnxruntime as ort

    net = S.Network("net", (6, 5, 5), [S.Conv2d(6, 3, padding=1, groups=3),
                                       S.ConvTranspose2d(4, 3, 2, 1, groups=2, output_padding=1),
                                       S.ELU(), S.Flatten(), S.Dense(2)])  # fmt: skip
    model = triptych.create(S.single(net, "jax_grouped"), framework="jax", seed=1)
    path = model.export_onnx(tmp_path)["net"]
    x = np.random.default_rng(0).standard_normal((2, 6, 5, 5)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    assert np.abs(y - model.predict(x)).max() <= 1e-5


def test_data_parallel_engine_and_refused_sync_bn():
    """--workers N runs on jax.distributed (level 5 is tests/training); synchronised
    BatchNorm is refused with the reason."""
    dist = get_backend("jax").distributed
    assert dist.UNSUPPORTED is None and "jax.distributed" in dist.ENGINE
    procs = dist.processes(2, 12345)
    assert [env["JAX_PROCESS_ID"] for _, env, _ in procs] == ["0", "1"]
    assert procs[0][1]["JAX_COORDINATOR_ADDRESS"] == "127.0.0.1:12345"
    with pytest.raises(ValueError, match="no synchronised BatchNorm"):
        dist.sync_batchnorm([])


@pytest.mark.slow
def test_level5_two_jax_workers_match_one_process(tmp_path):
    """Level 5 on JAX's own engine: 2 worker processes (jax.distributed, gloo) on shards of
    each global batch against one process on the whole batch, triptych's Adam, the
    classifier without BatchNorm (its statistics are per shard): losses and weights within
    the level-5 tolerances."""
    from triptych.model import resolve_spec
    from triptych.verify.data_parallel import (
        data_parallel_checks,
        parity_recipe,
        without_batchnorm,
    )

    spec = without_batchnorm(resolve_spec("classifier"))
    recipe = parity_recipe(spec, 2).with_(optimizer=Optimizer("adam", 1e-3))
    checks = data_parallel_checks(spec, "jax", workers=2, steps=3, timeout_s=90,
                                  recipe=recipe, run_dir=tmp_path)  # fmt: skip
    gating = [c for c in checks if c.gating]
    assert {c.network for c in gating} == {"loss", "weights"}
    for c in gating:
        assert c.level == 5 and c.passed, (c.note, c.comparison.failures())
        assert c.max_abs < 1e-5, (c.network, c.max_abs)
