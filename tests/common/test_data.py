import gzip
import struct

import numpy as np
import pytest

from triptych.common import data as D


def _write_idx(path, array, type_code=0x08, count_override=None):
    dims = list(array.shape)
    if count_override is not None:
        dims[0] = count_override
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *dims)
    payload = header + array.astype(">u1" if type_code == 0x08 else ">i4").tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)


def test_digits_scaled_unit_and_symmetric():
    unit, sym = D.load_digits("unit"), D.load_digits("symmetric")
    assert unit.x.shape == (1797, 1, 8, 8) and unit.x.dtype == np.float32
    assert unit.x.min() == 0.0 and unit.x.max() == 1.0
    assert sym.x.min() == -1.0 and sym.x.max() == 1.0
    assert sorted(set(unit.y.tolist())) == list(range(10))


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_images_and_labels_round_trip(tmp_path, suffix):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9], np.uint8)
    _write_idx(tmp_path / f"t-images-idx3-ubyte{suffix}", imgs)
    _write_idx(tmp_path / f"t-labels-idx1-ubyte{suffix}", labels)
    ds = D.load(str(tmp_path / f"t-images-idx3-ubyte{suffix}"))
    assert ds.x.shape == (6, 1, 28, 28)
    np.testing.assert_allclose(ds.x[:, 0], imgs / 255.0, atol=1e-7)
    assert ds.y.tolist() == [3, 1, 4, 1, 5, 9]


def test_malformed_idx_files_name_file_and_fault(tmp_path):
    bad_magic = tmp_path / "magic.idx"
    bad_magic.write_bytes(b"\x12\x34\x08\x03" + b"\x00" * 20)
    with pytest.raises(D.DataError, match=r"magic.idx: bad IDX magic number 12340803"):
        D.read_idx(bad_magic)
    trunc = tmp_path / "trunc.idx"
    _write_idx(trunc, np.zeros((4, 5, 5), np.uint8))
    trunc.write_bytes(trunc.read_bytes()[:-7])
    with pytest.raises(D.DataError, match=r"trunc.idx: IDX payload is 93 bytes.*need 100"):
        D.read_idx(trunc)
    imgs, labels = tmp_path / "i.idx", tmp_path / "l.idx"
    _write_idx(imgs, np.zeros((4, 5, 5), np.uint8))
    _write_idx(labels, np.zeros(3, np.uint8))
    with pytest.raises(D.DataError, match="has 4 images but .*l.idx has 3 labels"):
        D.load_idx(imgs, labels)


def test_npz_loading_and_errors(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, x=np.full((3, 4, 4), 255, np.uint8), y=np.array([0, 1, 1]))
    ds = D.load(str(good), scale="symmetric")
    assert ds.x.shape == (3, 1, 4, 4) and np.all(ds.x == 1.0)
    no_x = tmp_path / "nox.npz"
    np.savez(no_x, images=np.zeros((2, 4, 4)))
    with pytest.raises(D.DataError, match="nox.npz: no array 'x' .*images"):
        D.load_npz(no_x)
    bad_y = tmp_path / "bady.npz"
    np.savez(bad_y, x=np.zeros((2, 4, 4)), y=np.zeros(3))
    with pytest.raises(D.DataError, match="bady.npz: 'y' must be"):
        D.load_npz(bad_y)
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(D.DataError, match="corrupt.npz: not a readable .npz"):
        D.load_npz(corrupt)


def test_class_filter_relabels_and_k_per_class():
    digits = D.load_digits()
    src = digits.filter_classes([5, 6, 7, 8, 9])
    assert sorted(set(src.y.tolist())) == [0, 1, 2, 3, 4]
    assert np.array_equal(src.x, digits.x[digits.y >= 5])
    k5 = src.per_class(5, seed=1)
    assert len(k5) == 25 and np.bincount(k5.y).tolist() == [5] * 5
    assert np.array_equal(k5.x, src.per_class(5, seed=1).x)
    with pytest.raises(D.DataError, match=r"classes \[11\] not present"):
        digits.filter_classes([1, 11])


def test_batches_are_seeded_and_reshuffled_each_epoch():
    ds = D.load_digits()
    a = [x for x, _ in D.batches(ds, 100, seed=3, epochs=2)]
    b = [x for x, _ in D.batches(ds, 100, seed=3, epochs=2)]
    assert len(a) == 2 * (1797 // 100)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    assert not np.array_equal(a[0], a[17])  # epoch 2 starts with another order
    with pytest.raises(ValueError, match="batch_size 5000 is larger"):
        next(D.batches(ds, 5000))
