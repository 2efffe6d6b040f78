"""Transfer learning: freezing, BN rule, lr multipliers, cross-framework transfer, errors."""

import functools
import itertools

import numpy as np
import pytest

import triptych
from triptych.cli import main
from triptych.common import data as D
from triptych.common.weights import WeightsError
from triptych.training import transfer as T

TRAIN, TEST = D.load_digits().split(0.2, seed=0)
SOURCE = TRAIN.filter_classes(range(5))
TARGET, TARGET_TEST = TRAIN.filter_classes(range(5, 10)), TEST.filter_classes(range(5, 10))


@functools.cache
def pretrained(framework):
    model = triptych.create("classifier", framework=framework, seed=0, num_classes=5)
    model.fit(SOURCE, steps=250, progress=False)
    return model.get_weights()


def _layer(key):
    network, index, _ = key.split(".")
    return network, int(index)


@pytest.mark.parametrize("policy", ["head", "most", "few", "none", "auto"])
def test_frozen_layers_bitwise_unchanged_trainable_ones_change(policy, framework):
    model = T.make_target_model(framework, 5, seed=1, init=pretrained(framework))
    before = model.get_weights()
    T.fine_tune(model, TARGET.per_class(5, seed=1), policy, 5, steps=15, seed=1)
    after = model.get_weights()
    frozen = T.frozen_layers(model.spec, policy, 5)
    assert len(frozen) == {"head": 6, "most": 4, "few": 2, "none": 0}[T.resolve_policy(policy, 5)]
    for key in before:
        unchanged = np.array_equal(before[key], after[key])
        if _layer(key) in frozen:  # weights and BN running statistics
            assert unchanged, key
        elif key == "head.1.weight" or (
            key.endswith(("weight", "running_mean")) and not key.startswith("head")
        ):
            assert not unchanged, key  # every trainable layer moved


def test_lr_multiplier_zero_keeps_a_layer_and_one_half_moves_it_less(framework):
    model = T.make_target_model(framework, 5, seed=2, init=pretrained(framework))
    before = model.get_weights()
    T.fine_tune(
        model,
        TARGET.per_class(5, seed=2),
        "none",
        5,
        steps=10,
        seed=2,
        lr_mult=T.parse_lr_mult(["backbone.0=0", "backbone.3=0.5"]),
    )
    after = model.get_weights()
    assert np.array_equal(before["backbone.0.weight"], after["backbone.0.weight"])
    assert np.array_equal(before["backbone.1.weight"], after["backbone.1.weight"])  # its BN
    assert not np.array_equal(before["backbone.3.weight"], after["backbone.3.weight"])


@pytest.mark.parametrize(
    "source, target", list(itertools.permutations(["torch", "tensorflow", "mxnet"], 2))
)
def test_pretrain_in_one_framework_fine_tune_in_another(source, target):
    available = triptych.frameworks()
    if source not in available or target not in available:
        pytest.skip(reason=f"needs {source} and {target}; have {available}")
    data = TARGET.per_class(10, seed=0)
    accs = {}
    for origin in (source, target):
        model = T.make_target_model(target, 5, seed=0, init=pretrained(origin))
        T.fine_tune(model, data, "none", 10, steps=120, seed=0)
        accs[origin] = T.accuracy(model, TARGET_TEST)
    assert accs[source] > 0.8 and abs(accs[source] - accs[target]) <= 0.05, accs


def test_autoencoder_encoder_initialises_the_backbone():
    fw = triptych.frameworks()[0]
    ae = triptych.create("conv_autoencoder", framework=fw, seed=4)
    model = T.make_target_model(fw, 5, seed=0, init=ae.get_weights())
    w, a = model.get_weights(), ae.get_weights()
    assert all(
        np.array_equal(w[f"backbone.{k[8:]}"], v) for k, v in a.items() if k.startswith("encoder.")
    )


def test_bad_transfer_inputs_give_clear_errors(tmp_path, capsys):
    fw = triptych.frameworks()[0]
    narrow = triptych.create("classifier", framework=fw, width=8, num_classes=5)
    path = narrow.save(tmp_path / "narrow.safetensors")
    with pytest.raises(
        WeightsError,
        match=r"backbone.0.weight: shape \(8, 1, 3, 3\), the "
        r"target backbone needs \(16, 1, 3, 3\)",
    ):
        T.make_target_model(fw, 5, seed=0, init=path)
    gan = triptych.create("gan", framework=fw).save(tmp_path / "gan.safetensors")
    assert main(["train", "classifier", "--init", str(gan), "--steps", "2"]) == 2
    assert "does not fit classifier's backbone" in capsys.readouterr().err
    assert main(["train", "classifier", "--freeze", "half", "--steps", "2"]) == 2
    assert (
        "unknown freeze policy 'half'; allowed: head, most, few, none, auto"
        in capsys.readouterr().err
    )
    assert main(["train", "classifier", "--classes", ",", "--steps", "2"]) == 2
    assert "empty class filter" in capsys.readouterr().err
    assert (
        main(
            ["train", "classifier", "--classes", "5-9", "--labels-per-class", "500", "--steps", "2"]
        )
        == 2
    )
    assert "asked for 500" in capsys.readouterr().err


def test_fine_tuning_with_dropout_is_repeatable(framework):
    """The head's Dropout masks come from the common stream per (seed, step): repeatable."""
    runs = []
    for _ in range(2):
        model = T.make_target_model(framework, 5, seed=3, init=pretrained(framework))
        T.fine_tune(model, TARGET.per_class(2, seed=3), "none", 2, steps=8, seed=3)
        runs.append(model.get_weights())
    assert all(np.array_equal(runs[0][k], runs[1][k]) for k in runs[0])
