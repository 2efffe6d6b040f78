"""Exact Dropout: the same numpy masks in every framework (`triptych.common.dropout`)."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

import triptych
from triptych.cli import main
from triptych.common import spec as S
from triptych.common import zoo
from triptych.common.dropout import dropout_masks, has_dropout
from triptych.frameworks.base import available
from triptych.model import Model, default_recipe
from triptych.verify.training import DROPOUT_HINT, training_parity

#: Flatten -> Dropout -> Dense (Keras permutes features), Conv -> Dropout (NHWC in Keras),
#: Dense -> Dropout -> Unflatten (Keras permutes the Dense's outputs)
NET = S.Network(
    "net",
    (2, 4, 4),
    [
        S.Conv2d(3, 3, padding=1),
        S.Dropout(0.3),
        S.ReLU(),
        S.Flatten(),
        S.Dropout(0.5),
        S.Dense(48),
        S.Dropout(0.2),
        S.Unflatten((3, 4, 4)),
        S.Conv2d(2, 3, padding=1),
    ],
)
SPEC = S.ModelSpec("dropout_net", {"net": NET})
X = np.random.default_rng(0).standard_normal((6, 2, 4, 4)).astype(np.float32)


def _attention_spec(dropout: float) -> S.ModelSpec:
    """A digits classifier whose only dropout is on its attention probabilities: 2x2
    patches as 16 tokens of 8 features, MultiHeadAttention(2, dropout), Flatten, Dense(10)."""
    net = S.Network(
        "net",
        (1, 8, 8),
        [
            S.Conv2d(8, 2, stride=2),
            S.Tokens(),
            S.MultiHeadAttention(2, dropout=dropout),
            S.Flatten(),
            S.Dense(10),
        ],
    )
    return S.ModelSpec("attention_dropout_net", {"net": net})


ATT_SPEC = _attention_spec(0.3)
ATT_NET = ATT_SPEC.networks["net"]


def test_masks_are_inverted_keep_masks_of_the_layer_input_shape():
    masks = dropout_masks(NET, 6, seed=0, step=1)
    assert sorted(masks) == [1, 4, 6]
    for i, m in masks.items():
        p = NET.layers[i].p
        assert m.shape == (6, *NET.infos[i].input_shape) and m.dtype == np.float32
        assert set(np.unique(m)) <= {0.0, np.float32(1 / (1 - p))}
    again = dropout_masks(NET, 6, seed=0, step=1)
    assert all(np.array_equal(masks[i], again[i]) for i in masks)
    other = dropout_masks(NET, 6, seed=0, step=2)
    assert not np.array_equal(masks[4], other[4])
    big = dropout_masks(S.Network("n", (10000,), [S.Dropout(0.3)]), 4, 0, 1)[0]
    assert abs((big == 0).mean() - 0.3) < 0.01
    assert has_dropout(SPEC) and not has_dropout(zoo.create_spec("autoencoder"))


def test_attention_dropout_masks_are_per_head_query_and_key():
    masks = dropout_masks(ATT_NET, 6, seed=0, step=1)
    assert sorted(masks) == [2] and masks[2].shape == (6, 2, 16, 16)
    assert set(np.unique(masks[2])) == {0.0, np.float32(1 / (1 - 0.3))}
    assert has_dropout(ATT_SPEC) and not has_dropout(_attention_spec(0.0))
    assert not np.array_equal(masks[2], dropout_masks(ATT_NET, 6, seed=0, step=2)[2])


def _train_forward(framework: str, step: int | None) -> np.ndarray:
    model = Model(SPEC, framework, seed=0)
    if step is not None:
        model.backend.set_dropout_masks(model.built("net"), dropout_masks(NET, len(X), 0, step))
    return model.forward(X, "net", training=True)


def test_exact_masks_give_the_same_train_forward_in_every_pair(framework_pair):
    a, b = framework_pair
    for step in (1, 2):
        np.testing.assert_allclose(
            _train_forward(a, step), _train_forward(b, step), rtol=1e-6, atol=1e-6
        )


def test_masks_cleared_means_own_rng_and_eval_is_identity(framework):
    model = Model(SPEC, framework, seed=0)
    built = model.built("net")
    plain = model.forward(X, "net", training=False)
    model.backend.set_dropout_masks(built, dropout_masks(NET, len(X), 0, 1))
    assert np.array_equal(model.forward(X, "net", training=False), plain)  # eval: no mask
    exact = model.forward(X, "net", training=True)
    model.backend.set_dropout_masks(built, None)
    own = model.forward(X, "net", training=True)
    assert not np.allclose(exact, own)  # the framework's own masks again
    only = S.ModelSpec("d", {"d": S.Network("d", (2, 4, 4), [S.Dropout(0.5)])})
    m = Model(only, framework)
    m.backend.set_dropout_masks(m.built("d"), dropout_masks(only.networks["d"], len(X), 0, 1))
    assert np.array_equal(m.forward(X, "d", training=False), X)


def test_attention_dropout_is_off_in_eval_and_own_rng_without_masks(framework):
    x = np.random.default_rng(2).random((4, 1, 8, 8), dtype=np.float32)
    model = Model(ATT_SPEC, framework, seed=0)
    built = model.built("net")
    plain = model.forward(x, "net", training=False)
    no_dropout = Model(_attention_spec(0.0), framework, seed=0)
    assert np.array_equal(no_dropout.forward(x, "net"), plain)  # eval: the plain attention
    model.backend.set_dropout_masks(built, dropout_masks(ATT_NET, len(x), 0, 1))
    assert np.array_equal(model.forward(x, "net", training=False), plain)
    exact = model.forward(x, "net", training=True)
    assert np.array_equal(model.forward(x, "net", training=True), exact)
    assert not np.allclose(exact, plain)
    model.backend.set_dropout_masks(built, None)
    own = model.forward(x, "net", training=True)  # the framework's own attention dropout
    assert not np.allclose(own, exact) and not np.allclose(own, plain)


def test_classifier_20_sgd_steps_agree_per_step_in_every_pair():
    frameworks = available()
    if len(frameworks) < 2:
        pytest.skip(f"needs two frameworks, has {frameworks}")
    run, checks = training_parity(zoo.create_spec("classifier"), frameworks, steps=20)
    # every pair within the bound derived from both frameworks' float64 runs, every step
    losses = [c for c in checks if c.network == "loss"]
    assert len(losses) == len(run.pairs()) and all(c.oracle is not None for c in losses)
    assert all(c.passed for c in checks if c.gating), [str(c.comparison) for c in checks]


def test_user_spec_with_dropout_passes_level_4():
    frameworks = available()
    if len(frameworks) < 2:
        pytest.skip(f"needs two frameworks, has {frameworks}")
    spec = S.ModelSpec(
        "user_mlp",
        {"mlp": S.Network("mlp", (12,), [S.Dense(32), S.ReLU(), S.Dropout(0.5), S.Dense(3)])},
    )
    _, checks = training_parity(spec, frameworks, steps=20)
    assert checks and all(c.passed for c in checks if c.gating)


def test_own_masks_failure_says_dropout_masks_differ():
    frameworks = available()[:2]
    if len(frameworks) < 2:
        pytest.skip(f"needs two frameworks, has {frameworks}")
    _, checks = training_parity(
        zoo.create_spec("classifier"), frameworks, steps=20, exact_dropout=False
    )
    failed = [c for c in checks if c.gating and not c.passed]
    assert failed
    assert all(DROPOUT_HINT in c.comparison.failures() for c in failed)


def test_fit_with_exact_dropout_resumes_bit_for_bit(framework, tmp_path):
    recipe = dataclasses.replace(
        default_recipe(zoo.create_spec("classifier")), batch=16, checkpoint_every=3
    )
    data = triptych.common.data.load_digits()

    def model():
        return triptych.create("classifier", framework=framework, seed=0)

    whole = model()
    h_whole = whole.fit(data, steps=6, recipe=recipe, progress=False, exact_dropout=True)
    model().fit(data, steps=3, recipe=recipe, progress=False, out_dir=tmp_path, exact_dropout=True)
    resumed = model()
    h_res = resumed.fit(
        data,
        steps=6,
        recipe=recipe,
        progress=False,
        out_dir=tmp_path,
        resume=True,
        exact_dropout=True,
    )
    assert [r["loss"] for r in h_res][-3:] == [r["loss"] for r in h_whole][-3:]
    a, b = whole.get_weights(), resumed.get_weights()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_fit_with_exact_dropout_agrees_across_frameworks():
    frameworks = available()
    if len(frameworks) < 2:
        pytest.skip(f"needs two frameworks, has {frameworks}")
    recipe = dataclasses.replace(default_recipe(zoo.create_spec("classifier")), batch=16)
    data = triptych.common.data.load_digits()
    losses = {}
    for fw in frameworks:
        m = triptych.create("classifier", framework=fw, seed=0)
        h = m.fit(data, steps=8, recipe=recipe, progress=False, exact_dropout=True)
        losses[fw] = np.array([r["loss"] for r in h])
    for a, b in itertools.combinations(frameworks, 2):
        np.testing.assert_allclose(losses[a], losses[b], rtol=1e-5)


def test_fit_with_exact_attention_dropout_agrees_across_frameworks_and_drops():
    """Attention dropout with exact masks: every framework's `fit` (TensorFlow and Sonnet
    handing the masks to the step's graph) gives the same losses per step, and the masks
    drop (the losses are not those of the same network without attention dropout)."""
    frameworks = available()
    if len(frameworks) < 2:
        pytest.skip(f"needs two frameworks, has {frameworks}")
    recipe = dataclasses.replace(default_recipe(zoo.create_spec("classifier")), batch=16)
    data = triptych.common.data.load_digits()
    losses = {}
    for fw in frameworks:
        m = triptych.create(ATT_SPEC, framework=fw, seed=0)
        h = m.fit(data, steps=8, recipe=recipe, progress=False, exact_dropout=True)
        losses[fw] = np.array([r["loss"] for r in h])
    for a, b in itertools.combinations(frameworks, 2):
        np.testing.assert_allclose(losses[a], losses[b], rtol=1e-5, err_msg=f"{a} vs {b}")
    plain = triptych.create(_attention_spec(0.0), framework=frameworks[0], seed=0)
    h = plain.fit(data, steps=8, recipe=recipe, progress=False, exact_dropout=True)
    no_drop = np.array([r["loss"] for r in h])
    assert np.abs(no_drop - losses[frameworks[0]]).max() > 1e-4 * np.abs(no_drop).max()


@pytest.mark.slow
def test_cli_parity_classifier_exits_0(tmp_path):
    argv = ["parity", "classifier", "--no-reference", "--batch", "1", "--train-steps", "20"]
    argv += ["--exporter", "torch=torchscript", "--out", str(tmp_path)]
    assert main(argv) == 0


@pytest.mark.parametrize("which", ["dropout", "attention"])
def test_masks_handed_to_the_step_are_the_assigned_masks_bitwise(framework, which):
    """A backend whose supervised step takes the masks itself (``run_masked``: TensorFlow
    and Sonnet assign them inside the step's graph; `fit` uses it) trains bitwise as the
    masks set by ``set_dropout_masks`` before ``run`` do, for all three mask layouts and
    for an attention's masks on its probabilities."""
    from triptych.common.recipe import Optimizer

    spec, net, x, target = SPEC, NET, X, X
    if which == "attention":
        spec, net = ATT_SPEC, ATT_NET
        rng = np.random.default_rng(1)
        x = rng.random((6, 1, 8, 8), dtype=np.float32)
        target = rng.standard_normal((6, 10)).astype(np.float32)
    models = [triptych.create(spec, framework=framework, seed=0) for _ in range(2)]
    steps = [
        m.backend.train.make_trainer([m.built("net")], "mse", Optimizer("adam", 1e-2))
        for m in models
    ]
    if not hasattr(steps[0], "run_masked"):
        pytest.skip(f"{framework}: masks go through set_dropout_masks only")
    for s in range(1, 4):
        masks = dropout_masks(net, len(x), 0, s)
        handed = float(steps[0].run_masked(x, target, {"net": masks}))
        models[1].backend.set_dropout_masks(models[1].built("net"), masks)
        assigned = float(steps[1].run(x, target))
        models[1].backend.set_dropout_masks(models[1].built("net"), None)
        assert handed == assigned, s
    a, b = (m.get_weights() for m in models)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    # exact mode was on for the call only: a train-mode forward uses the own RNG again
    assert not any(getattr(d, "exact", False) for d in models[0].built("net").dropouts.values())
