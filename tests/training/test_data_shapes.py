"""Models take their image shape from the data: `train gan --data DIR` with MNIST's files as
they ship (28x28, gzipped) trains the GAN in every framework; a shape a model cannot take is
refused with one line naming both shapes."""

import gzip
import json
import struct

import numpy as np
import pytest

from triptych.cli import main
from triptych.common import data as D


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def mnist_layout_dir(root, n_train=96, n_test=32):
    """Real MNIST-5k digits written as the four files MNIST ships (gzipped IDX)."""
    mnist = D.load_mnist5k()
    order = np.random.default_rng(0).permutation(len(mnist.x))  # the file is sorted by class
    x = np.round(mnist.x[order, 0] * 255).astype(np.uint8)
    y = mnist.y[order].astype(np.uint8)
    root.mkdir()
    parts = {"train": slice(0, n_train), "t10k": slice(n_train, n_train + n_test)}
    for part, rows in parts.items():
        (root / f"{part}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(x[rows])))
        (root / f"{part}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(y[rows])))
    return root


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    return mnist_layout_dir(tmp_path_factory.mktemp("data") / "mnist")


@pytest.fixture(scope="module")
def fd_cache(tmp_path_factory):
    """One FD-classifier cache for this module's runs (per test worker)."""
    return tmp_path_factory.mktemp("fd_cache")


def test_gan_trains_on_a_28x28_idx_directory(
    mnist_dir, framework, tmp_path, fd_cache, monkeypatch, capsys
):
    monkeypatch.setenv("TRIPTYCH_CACHE", str(fd_cache))
    out = tmp_path / "gan"
    args = ["train", "gan", "-f", framework, "--data", str(mnist_dir), "--quick"]
    assert main([*args, "--steps", "4", "--out", str(out), "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 4 and np.isfinite(metrics["fd_digits"])
    # the FD classifier of these files is cached by their content for the next run
    (cached,) = (fd_cache / "fd").glob("mnist-*.safetensors")
    assert cached.stat().st_size > 1000
    assert (out / "samples.png").stat().st_size > 1000
    from triptych.common.weights import load_weights

    spec = load_weights(out / "checkpoint.safetensors")[0]
    assert spec.networks["generator"].output_shape == (1, 28, 28)
    assert spec.networks["discriminator"].input_shape == (1, 28, 28)


def test_a_shape_the_model_cannot_take_is_refused_in_one_line(tmp_path, capsys):
    data = tmp_path / "odd.npz"
    np.savez(data, x=np.zeros((8, 1, 10, 10), np.float32), y=np.arange(8) % 2)
    assert main(["train", "conv_autoencoder", "--data", str(data), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "(1, 10, 10)" in err and "divisible by 4" in err


def test_the_fd_classifier_cache_key_follows_the_data():
    from triptych.training.fd import data_key

    a = D.Dataset(np.zeros((4, 1, 8, 8), np.float32), np.arange(4), "a")
    b = D.Dataset(np.zeros((4, 1, 8, 8), np.float32), np.arange(4)[::-1].copy(), "b")
    assert data_key("digits", a) == "digits"  # a named data set keeps its name
    assert data_key("/x/mnist", a) == data_key("/y/mnist", a)
    assert data_key("/x/mnist", a).startswith("mnist-")
    assert data_key("/x/mnist", a) != data_key("/x/mnist", b)  # other labels, other classifier
