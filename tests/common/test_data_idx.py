"""IDX files and MNIST-style directories: loading (raw, gz, dotted names, any H×W) and every
refusal, each asserting the file name and the fault in its one-line message."""

import gzip
import struct

import numpy as np
import pytest

from triptych.common import data as D

CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B}
CODES |= {np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}


def idx_bytes(array, dims=None):
    """IDX bytes of ``array`` (uint8, int8, >i2, >i4, >f4, >f8); ``dims`` overrides the header."""
    array = np.asarray(array)
    dims = array.shape if dims is None else dims
    header = bytes([0, 0, CODES[array.dtype], len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    return header + array.tobytes()


def write(path, data):
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
    return path


def mnist_dir(root, n_train=6, n_test=4, side=(28, 28), gz=False, dotted=False, seed=0):
    rng = np.random.default_rng(seed)
    root.mkdir(exist_ok=True)
    parts = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        if n == 0:
            continue
        x = rng.integers(0, 256, (n, *side), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        sep = "." if dotted else "-"
        suffix = ".gz" if gz else ""
        write(root / f"{part}-images{sep}idx3-ubyte{suffix}", idx_bytes(x))
        write(root / f"{part}-labels{sep}idx1-ubyte{suffix}", idx_bytes(y))
        parts[part] = (x, y)
    return parts


@pytest.mark.parametrize(("gz", "dotted"), [(False, False), (True, False), (False, True)])
def test_idx_directory_loads_train_part_and_shipped_split(tmp_path, gz, dotted):
    parts = mnist_dir(tmp_path / "mnist", gz=gz, dotted=dotted)
    ds = D.load(tmp_path / "mnist")
    assert ds.x.shape == (6, 1, 28, 28) and ds.image_shape == (1, 28, 28)
    np.testing.assert_allclose(ds.x[:, 0], parts["train"][0] / 255.0, atol=1e-7)
    assert ds.y.tolist() == list(range(6)) and ds.name == "mnist/train"
    train, test = D.load_train_test(str(tmp_path / "mnist"), scale="symmetric", seed=9)
    assert (len(train), len(test)) == (6, 4)
    np.testing.assert_allclose(test.x[:, 0], parts["t10k"][0] / 127.5 - 1.0, atol=1e-6)
    assert train.classes == test.classes == tuple(range(6))


def test_idx_directory_without_t10k_splits_the_train_part(tmp_path):
    mnist_dir(tmp_path / "d", n_train=10, n_test=0)
    train, test = D.load_train_test(tmp_path / "d", test_fraction=0.2, seed=0)
    assert (len(train), len(test)) == (8, 2)
    with pytest.raises(D.DataError, match=r"d: no t10k-images-idx3-ubyte\[.gz\] and t10k-labels"):
        D.load_idx_split(tmp_path / "d")


def test_any_image_size_and_float_idx(tmp_path):
    mnist_dir(tmp_path / "small", side=(5, 7))
    assert D.load(tmp_path / "small").image_shape == (1, 5, 7)
    x = np.linspace(0, 1, 2 * 3 * 4, dtype=">f4").reshape(2, 3, 4)
    f = write(tmp_path / "f-images-idx3-ubyte", idx_bytes(x))
    ds = D.load(f)
    assert ds.y is None and ds.image_shape == (1, 3, 4)
    np.testing.assert_allclose(ds.x[:, 0], x, atol=1e-7)


def test_single_idx_file_finds_dotted_gz_labels_beside_it(tmp_path):
    write(tmp_path / "a-images.idx3-ubyte", idx_bytes(np.zeros((3, 4, 4), np.uint8)))
    write(tmp_path / "a-labels.idx1-ubyte.gz", idx_bytes(np.array([2, 0, 2], np.uint8)))
    assert D.load(tmp_path / "a-images.idx3-ubyte").y.tolist() == [2, 0, 2]


def test_directory_without_idx_files_is_refused_in_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(D.DataError) as e:
        D.load(tmp_path / "empty")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(str(tmp_path / "empty"))
    assert "no train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz]" in msg
    assert "expected MNIST-style IDX files" in msg
    write(tmp_path / "empty" / "train-images-idx3-ubyte", idx_bytes(np.zeros((1, 2, 2), np.uint8)))
    with pytest.raises(D.DataError, match=r"empty: no train-labels-idx1-ubyte\[.gz\]; expected"):
        D.load(tmp_path / "empty")
    with pytest.raises(D.DataError, match="notadir: not a directory"):
        D.load_idx_dir(tmp_path / "notadir")


def test_train_and_t10k_shapes_must_agree(tmp_path):
    mnist_dir(tmp_path / "m", n_test=0)
    mnist_dir(tmp_path / "t", n_train=0, side=(8, 8))
    for f in (tmp_path / "t").iterdir():
        f.rename(tmp_path / "m" / f.name)
    with pytest.raises(D.DataError, match=r"m: train images are \(1, 28, 28\) but t10k .*8, 8"):
        D.load_idx_split(tmp_path / "m")


def _valid(tmp_path, name="v-images-idx3-ubyte.gz"):
    x = np.random.default_rng(0).integers(0, 256, (8, 28, 28), dtype=np.uint8)
    return write(tmp_path / name, idx_bytes(x))


def test_corrupt_deflate_stream_is_refused(tmp_path):
    path = _valid(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[100:140] = bytes(40)  # zero out a stretch of the deflate stream
    path.write_bytes(bytes(raw))
    with pytest.raises(D.DataError) as e:
        D.read_idx(path)
    assert str(e.value).startswith(f"{path}: corrupt or truncated gzip stream (")
    assert "\n" not in str(e.value)


def test_truncated_gzip_is_refused(tmp_path):
    path = _valid(tmp_path)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(D.DataError, match=r"v-images-idx3-ubyte.gz: corrupt or truncated gzip"):
        D.read_idx(path)


def test_gz_name_without_gzip_content_is_refused(tmp_path):
    path = write(tmp_path / "plain.idx", idx_bytes(np.zeros((1, 2, 2), np.uint8)))
    gz = path.rename(tmp_path / "plain.idx.gz")
    with pytest.raises(D.DataError, match=r"plain.idx.gz: named .gz but is not gzip-compressed"):
        D.read_idx(gz)
    assert D.read_idx(_valid(tmp_path, "v-images-idx3-ubyte")).shape == (8, 28, 28)


def test_dims_whose_product_overflows_int64_are_refused(tmp_path):
    dims = (0xFFFFFFFF,) * 4  # product ~ 2**128 bytes: overflows int64, never allocated
    path = write(tmp_path / "huge.idx", idx_bytes(np.zeros(16, np.uint8), dims=dims))
    with pytest.raises(D.DataError) as e:
        D.read_idx(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: IDX payload is 16 bytes, header dims")
    assert f"need {(2**32 - 1) ** 4}" in msg and "-" not in msg.split("need")[1]
    assert "reshape" not in msg


def test_dims_larger_than_the_file_are_refused(tmp_path):
    path = write(tmp_path / "big.idx", idx_bytes(np.zeros(10, np.uint8), dims=(1000, 28, 28)))
    with pytest.raises(D.DataError, match=r"big.idx: IDX payload is 10 bytes.*need 784000"):
        D.load(path)
    empty = write(tmp_path / "zero.idx", idx_bytes(np.zeros(0, np.uint8), dims=(0, 28, 28)))
    with pytest.raises(D.DataError, match=r"zero.idx: no images \(shape \(0, 1, 28, 28\)\)"):
        D.load(empty)
    short = write(tmp_path / "short.idx", bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(D.DataError, match=r"short.idx: IDX header truncated \(ndim 3, 6 bytes\)"):
        D.read_idx(short)


@pytest.mark.parametrize(
    ("array", "fault"),
    [
        (np.zeros((2, 3, 3), ">i2"), "dtype int16 cannot be an image; allowed: uint8 0-255 or "),
        (np.zeros((2, 3, 3), np.int8), "dtype int8 cannot be an image"),
        (np.full((2, 3, 3), np.nan, ">f4"), "18 pixel values are NaN or inf"),
        (np.full((2, 3, 3), np.inf, ">f8"), "18 pixel values are NaN or inf"),
        (np.full((2, 3, 3), 255.0, ">f4"), r"float32 pixels span \[255, 255\]; .*divide by 255"),
        (np.full((2, 3, 3), -0.5, ">f4"), r"float32 pixels span \[-0.5, -0.5\]; allowed"),
        (np.zeros((2, 3), np.uint8), r"IDX images must be 3-D \(N, H, W\), got dims \(2, 3\)"),
    ],
)
def test_images_that_cannot_be_images_are_refused(tmp_path, array, fault):
    path = write(tmp_path / "bad-images-idx3-ubyte", idx_bytes(array))
    with pytest.raises(D.DataError, match=f"bad-images-idx3-ubyte: {fault}"):
        D.load_idx(path)


@pytest.mark.parametrize(
    ("labels", "fault"),
    [
        (np.array([1, -1], np.int8), r"labels span \[-1, 1\]; allowed: 0 <= label < 2\*\*31"),
        (np.zeros((2, 1), np.uint8), r"IDX labels must be 1-D \(N,\), got dims \(2, 1\)"),
        (np.array([0.5, 1.0], ">f4"), "float labels must be finite whole numbers"),
    ],
)
def test_bad_labels_are_refused(tmp_path, labels, fault):
    images = write(tmp_path / "i.idx", idx_bytes(np.zeros((2, 3, 3), np.uint8)))
    path = write(tmp_path / "l.idx", idx_bytes(labels))
    with pytest.raises(D.DataError, match=f"l.idx: {fault}"):
        D.load_idx(images, path)
