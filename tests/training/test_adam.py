"""triptych's Adam: one formula (PyTorch's) in every framework; the frameworks' own stay
reachable as ``adam_native`` (benchmarks/adam.md measures both)."""

import numpy as np
import pytest

import triptych
from triptych.common import adam, zoo
from triptych.common import spec as S
from triptych.common.recipe import Optimizer
from triptych.training.adam_table import CONV_BN
from triptych.verify.training import training_parity

DENSE = S.single(
    S.Network("net", (1, 8, 8), [S.Flatten(), S.Dense(16), S.Sigmoid(), S.Dense(10)]), "dense"
)


def _need_two() -> list[str]:
    have = triptych.frameworks()
    if len(have) < 2:
        pytest.skip(reason=f"cross-framework checks need two frameworks; have {have}")
    return have


@pytest.mark.parametrize("spec", [DENSE, CONV_BN], ids=["no_bn", "bn"])
def test_20_adam_steps_agree_across_every_pair(spec):
    _, checks = training_parity(spec, _need_two(), steps=20, lr=1e-3, batch=16, optimizer="adam")
    # losses, weights and (same-estimator) BatchNorm statistics, each within the bound
    # derived from both frameworks' float64 runs
    kinds = {c.network for c in checks}
    assert {"loss", "weights"} <= kinds
    assert all(c.passed for c in checks if c.gating), [
        f"{c.pair} {c.network}: {c.comparison.failures()}" for c in checks if not c.passed
    ]


def test_native_adam_is_reachable_and_differs():
    have = _need_two()

    spec = zoo.create_spec("autoencoder")
    _, ours = training_parity(spec, have, steps=20, lr=1e-3, batch=16, optimizer="adam")
    _, native = training_parity(spec, have, steps=20, lr=1e-3, batch=16, optimizer="adam_native")
    assert all(c.passed for c in ours if c.gating)
    # the frameworks' own Adams are different formulas (Keras/MXNet fold the bias correction
    # into the step size): their float64 runs disagree, which the derived bound catches
    assert not all(c.passed for c in native if c.gating)


def test_one_step_matches_the_numpy_reference(framework):
    model = triptych.create(DENSE, framework=framework, seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((4, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 10, 4)
    before = model.get_weights()
    step = model.make_trainer("cross_entropy", Optimizer("adam", 1e-2))
    step(x, y)
    after = model.get_weights()
    state = step.state()
    assert state[adam.STEP].tolist() == [1] * 4
    # at step 1, m = 0.1 g and v = 0.001 g², so the update is lr * g / (|g| + eps') per element
    moved = after["net.1.weight"] - before["net.1.weight"]
    assert np.all(np.abs(moved) <= 1e-2 * (1 + 1e-5))
    assert np.abs(moved).max() > 0.9e-2


def test_state_names_and_refusals(framework):
    model = triptych.create(DENSE, framework=framework, seed=0)
    step = model.make_trainer("cross_entropy", Optimizer("adam", 1e-3))
    state = step.state()
    assert sorted(state) == ["exp_avg.0000", "exp_avg.0001", "exp_avg.0002", "exp_avg.0003",
                             "exp_avg_sq.0000", "exp_avg_sq.0001", "exp_avg_sq.0002",
                             "exp_avg_sq.0003", "step"]  # fmt: skip
    step.load_state(state)
    bad = dict(state, **{"exp_avg.0000": state["exp_avg.0000"][:1]})
    with pytest.raises(ValueError, match="Adam state exp_avg.0000: float32"):
        step.load_state(bad)
    with pytest.raises(ValueError, match="missing \\['exp_avg.0003'\\]"):
        step.load_state({k: v for k, v in state.items() if k != "exp_avg.0003"})


def test_reference_update_is_pytorch_adam():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal(50).astype(np.float32)
    p = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    opt = torch.optim.Adam([p], lr=1e-3, eps=1e-8, foreach=False)
    ref, m, v = p0.copy(), np.zeros(50, np.float32), np.zeros(50, np.float32)
    for t in range(1, 6):
        g = (rng.standard_normal(50) * 10.0 ** rng.integers(-9, 0, 50)).astype(np.float32)
        p.grad = torch.from_numpy(g)
        opt.step()
        ref, m, v = adam.reference_update(ref, g, m, v, t, 1e-3)
    np.testing.assert_allclose(ref, p.detach().numpy(), rtol=1e-6, atol=0)


def _grads(rng: np.random.Generator, n: int) -> np.ndarray:
    return (rng.standard_normal(n) * 10.0 ** rng.integers(-9, 0, n)).astype(np.float32)


def test_torch_adam_is_the_reference_bitwise_with_skipped_steps():
    """The foreach (one dispatch per op) Adam: bitwise the numpy reference, per parameter
    step counts kept when a parameter has no gradient."""
    torch = pytest.importorskip("torch")
    from triptych.frameworks.torch.train import TriptychAdam

    rng = np.random.default_rng(2)
    init = [rng.standard_normal(n).astype(np.float32) for n in (50, 7)]
    params = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in init]
    opt = TriptychAdam(params, 1e-3, (0.9, 0.999), 1e-8)
    ref = [(x.copy(), np.zeros_like(x), np.zeros_like(x), 0) for x in init]
    for step in range(8):
        for i, p in enumerate(params):
            if i == 1 and step % 3 == 0:
                p.grad = None
                continue
            g = _grads(rng, p.numel())
            p.grad = torch.from_numpy(g)
            w, m, v, t = ref[i]
            ref[i] = (*adam.reference_update(w, g, m, v, t + 1, 1e-3), t + 1)
        opt.step()
    for p, (w, m, v, t) in zip(params, ref, strict=True):
        assert np.array_equal(p.detach().numpy(), w)
        assert np.array_equal(opt.state[p]["exp_avg"].numpy(), m)
        assert np.array_equal(opt.state[p]["exp_avg_sq"].numpy(), v)
        assert opt.state[p]["step"] == t


def test_mxnet_fused_adam_is_the_reference_within_rounding():
    """MXNet's fused ``adam_update`` with triptych's scalars folded in (lr' = step size *
    sqrt(bias2), eps' = eps * sqrt(bias2), the kernel's 1 - b corrected): 60 steps at two
    settings stay within float32 rounding of the numpy reference; its m and v are the
    reference's times the kernel's moment scales."""
    pytest.importorskip("mxnet")
    from triptych.frameworks.mxnet.compat import mx
    from triptych.frameworks.mxnet.train import TriptychAdam, moment_scales

    rng = np.random.default_rng(3)
    n = 4000
    for lr, betas, eps in ((1e-3, (0.9, 0.999), 1e-8), (1e-2, (0.5, 0.99), 1e-6)):
        w0 = rng.standard_normal(n).astype(np.float32)
        param = mx.gluon.Parameter("w", shape=(n,))
        param.initialize(init=mx.init.Zero())
        param.set_data(mx.nd.array(w0))
        opt = TriptychAdam([param], Optimizer("adam", lr, betas, eps))
        w, m, v = w0.copy(), np.zeros(n, np.float32), np.zeros(n, np.float32)
        for t in range(1, 61):
            g = _grads(rng, n)
            param.grad()[:] = mx.nd.array(g)
            param.data()._fresh_grad = True
            opt.step(1)
            w, m, v = adam.reference_update(w, g, m, v, t, lr, betas, eps)
            got = param.data().asnumpy()
            # a few ulps of w, or 1e-4 of a step (measured: 1 ulp; 4e-6 of a step)
            bound = 4 * np.spacing(np.abs(w)) + 1e-4 * lr
            assert (np.abs(got - w) <= bound).all(), (lr, t)
        c1, c2 = moment_scales(*betas)
        state = opt.state()
        assert state[adam.STEP].tolist() == [60]
        np.testing.assert_allclose(state[adam.m_name(0)] / c1, m, rtol=0, atol=1e-6 * abs(m).max())
        np.testing.assert_allclose(state[adam.v_name(0)] / c2, v, rtol=1e-5, atol=0)
        param.data()._fresh_grad = False  # no gradient: the step skips it
        opt.step(1)
        assert opt.state()[adam.STEP].tolist() == [60]


def test_tensorflow_adam_shared_and_per_variable_scalars_agree_bitwise():
    """TensorFlow's Adam computes its scalars once when every updated count is the same and
    per variable when a loaded state says otherwise: a variable's trajectory is bitwise the
    same either way, near the numpy reference, and a variable without a gradient keeps its
    count, m and v."""
    pytest.importorskip("tensorflow")
    from triptych.frameworks.tensorflow.compat import tf
    from triptych.frameworks.tensorflow.train import _Adam

    sizes = (30, 6, 4)
    init = [np.random.default_rng(4).standard_normal(n).astype(np.float32) for n in sizes]
    runs = {}
    for counts in ((5, 5, 0), (5, 2, 0)):  # shared scalars, then per-variable ones
        rng = np.random.default_rng(5)
        variables = [tf.Variable(x) for x in init]
        opt = _Adam(Optimizer("adam", 1e-2), variables, [1.0, 0.5, 1.0])
        state = opt.state()
        state[adam.STEP] = np.array(counts, np.int64)
        opt.load_state(state)

        @tf.function
        def step(grads: list) -> None:
            opt.apply([grads[0], grads[1], None])  # noqa: B023 - the last: no gradient

        w, m, v = init[0].copy(), np.zeros(sizes[0], np.float32), np.zeros(sizes[0], np.float32)
        for t in range(counts[0] + 1, counts[0] + 7):
            grads = [_grads(rng, n) for n in sizes[:2]]
            step([tf.constant(g) for g in grads])
            w, m, v = adam.reference_update(w, grads[0], m, v, t, 1e-2)
        state = opt.state()
        assert state[adam.STEP].tolist() == [counts[0] + 6, counts[1] + 6, 0]
        assert not state[adam.m_name(2)].any() and np.array_equal(variables[2].numpy(), init[2])
        np.testing.assert_allclose(variables[0].numpy(), w, rtol=1e-6, atol=1e-7)
        runs[counts] = (variables[0].numpy(), state[adam.m_name(0)], state[adam.v_name(0)])
    for a, b in zip(*runs.values(), strict=True):
        assert np.array_equal(a, b)
