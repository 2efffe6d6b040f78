"""The lecture's models on MNIST-5k at 28×28 with short recipes (issue: real digits at real
size). Budget: the whole file in about 2 minutes on 2 idle CPU cores; the GAN runs in torch
only (a GAN step at 28×28 costs ~0.13 s in tensorflow, ~0.3 s in MXNet); benchmarks/mnist.md
has every framework at the full recipes."""

import numpy as np
import pytest

import triptych
from triptych.common import data as D
from triptych.common import zoo
from triptych.common.zoo_models import DATA_RECIPE_CHANGES, recipe_for_data
from triptych.training.evaluate import evaluate, pca_baseline
from triptych.training.fd import fd_digits, load_or_train_classifier, shared_classifier_cache
from triptych.training.transfer_table import MNIST_VARIATIONS, variation_data

SHAPE = (1, 28, 28)
TRAIN, TEST = D.load_train_test("mnist", "unit")


def _recipe(name: str):
    return recipe_for_data(name, "mnist", zoo.entry(name).recipe)


def test_mnist_recipes_leave_the_digits_defaults_alone():
    for name, changes in DATA_RECIPE_CHANGES["mnist"].items():
        default = zoo.entry(name).recipe
        assert recipe_for_data(name, "digits", default) == default
        assert recipe_for_data(name, "some/file.npz", default) == default
        assert all(getattr(_recipe(name), k) == v for k, v in changes.items())


def test_gan_factory_at_28_is_the_dcgan():
    """z -> 7×7 -> 14×14 -> 28×28 (ConvTranspose, BN, ReLU, tanh); D mirrors it; the weight
    names are those of the 8×8 default."""
    spec = zoo.create_spec("gan", image_shape=SHAPE)
    gen = spec.networks["generator"]
    shapes = [info.output_shape for info in gen.infos]
    assert gen.input_shape == (64,)  # z 64 and width 64 from 28 pixels (GAN_SIZES)
    assert (128, 7, 7) in shapes and (64, 14, 14) in shapes and shapes[-1] == SHAPE
    assert type(gen.layers[-1]).__name__ == "Tanh"
    disc = spec.networks["discriminator"]
    assert [i.output_shape for i in disc.infos][-1] == (1,)
    assert (128, 7, 7) in [i.output_shape for i in disc.infos]
    assert set(spec.tensor_shapes()) == set(zoo.create_spec("gan").tensor_shapes())


def test_classifier_beats_chance_by_far_after_60_steps(framework):
    model = triptych.create("classifier", framework=framework, seed=0, image_shape=SHAPE)
    model.fit(TRAIN, steps=60, recipe=_recipe("classifier"), progress=False)
    accuracy = (model.predict(TEST.x, batch_size=500).argmax(axis=1) == TEST.y).mean()
    assert accuracy > 0.75, accuracy  # chance: 0.1; measured 0.93 (torch)


def test_linear_autoencoder_approaches_pca(framework):
    recipe = _recipe("linear_autoencoder")
    model = triptych.create("linear_autoencoder", framework=framework, seed=0, image_shape=SHAPE)
    model.fit(TRAIN, steps=recipe.quick_steps, recipe=recipe, progress=False)
    pca_mse, _ = pca_baseline(TRAIN, TEST, 8)
    mse = evaluate(model, TEST, recipe)["test_mse"]
    assert pca_mse <= mse < 1.15 * pca_mse  # 400 steps; the full recipe ends within 2 %


def test_conv_autoencoder_beats_the_mean_image(framework):
    recipe = _recipe("conv_autoencoder")
    model = triptych.create("conv_autoencoder", framework=framework, seed=0, image_shape=SHAPE)
    model.fit(TRAIN, steps=recipe.quick_steps, recipe=recipe, progress=False)
    mean_mse = float(((TRAIN.x.mean(axis=0) - TEST.x) ** 2).mean())
    assert evaluate(model, TEST, recipe)["test_mse"] < 0.5 * mean_mse


@pytest.fixture(scope="module")
def fd_classifier(tmp_path_factory):
    """A quickly trained MNIST feature classifier (60 steps, torch), shared by the GAN tests."""
    real = D.load("mnist", "unit")
    path = tmp_path_factory.mktemp("fd") / "classifier.safetensors"
    return load_or_train_classifier(path, "torch", real=real, steps=60), real


def test_gan_fd_mnist_drops_after_a_short_run(fd_classifier):
    fw = "torch"  # the fastest GAN step at 28×28; the suite covers the other frameworks
    if fw not in triptych.frameworks():
        pytest.skip(f"{fw} not installed")
    classifier, real = fd_classifier
    recipe = _recipe("gan")
    model = triptych.create("gan", framework=fw, seed=0, image_shape=SHAPE)
    before = fd_digits(model, classifier, n=300, real=real).fd
    model.fit(D.load("mnist", "symmetric"), steps=80, recipe=recipe, progress=False)
    after = fd_digits(model, classifier, n=300, real=real).fd
    assert after < 0.8 * before, (before, after)


def test_shared_fd_cache_is_keyed_by_data_and_steps(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIPTYCH_CACHE", str(tmp_path))
    a = shared_classifier_cache("mnist", 600)
    assert a == tmp_path / "fd" / "mnist-600.safetensors"
    assert a != shared_classifier_cache("digits", 600) != shared_classifier_cache("mnist", 60)


@pytest.mark.parametrize("variation", MNIST_VARIATIONS)
def test_mnist_transfer_variations_data(variation):
    source, target, test, n = variation_data(variation)
    for d in (source, target, test):
        assert d.image_shape == SHAPE and d.x.dtype == np.float32
        assert d.x.min() >= 0.0 and d.x.max() <= 1.0
    assert set(np.unique(target.y)) == set(np.unique(test.y)) == set(range(n))
    if variation == "mnist_task":
        assert set(np.unique(source.y)) == set(range(5)) and n == 5
        assert tuple(source.classes) == (0, 1, 2, 3, 4)
        assert tuple(target.classes) == tuple(test.classes) == (5, 6, 7, 8, 9)
        assert (len(source), len(target), len(test)) == (2000, 2000, 500)
    else:
        assert set(np.unique(source.y)) == set(range(10)) and n == 10
        sizes = {"mnist_to_digits": (4000, 1797), "digits_to_mnist": (1438, 5000)}[variation]
        assert len(source) == sizes[0] and len(target) + len(test) == sizes[1]
