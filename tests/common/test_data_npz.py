"""NPZ loading (any H×W, 1 or 3 channels, compressed, Fortran order) and every refusal."""

import io
import zipfile

import numpy as np
import pytest

from triptych.common import data as D


def npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_any_size_three_channels_compressed_and_fortran(tmp_path):
    rgb = np.random.default_rng(0).random((4, 3, 5, 6)).astype(np.float32)
    path = tmp_path / "rgb.npz"
    np.savez_compressed(path, x=np.asfortranarray(rgb), y=np.array([0, 1, 1, 7], np.int32))
    ds = D.load(path, scale="symmetric")
    assert ds.image_shape == (3, 5, 6) and ds.classes == (0, 1, 7)
    np.testing.assert_allclose(ds.x, rgb * 2 - 1, atol=1e-6)
    gray = D.load_npz(npz(tmp_path / "g.npz", x=np.zeros((2, 9, 11), np.uint8)))
    assert gray.image_shape == (1, 9, 11) and gray.y is None
    floats = D.load_npz(npz(tmp_path / "f.npz", x=np.zeros((2, 4, 4)), y=np.array([1.0, 2.0])))
    assert floats.y.dtype == np.int64 and floats.y.tolist() == [1, 2]


@pytest.mark.parametrize(
    ("x", "fault"),
    [
        (np.array([["a", "b"]]), r"array 'x' has dtype <U1; allowed: numeric"),
        (np.array([None, 1], dtype=object), r"array 'x' has dtype object; allowed: numeric"),
        (np.zeros(3, dtype=[("a", "u1"), ("b", "f4")]), r"array 'x' has dtype \[\('a', 'u1'\)"),
        (np.zeros((2, 3, 3), np.complex64), r"array 'x' has dtype complex64; allowed: numeric"),
        (np.zeros((2, 3, 3), np.uint16), "'x': dtype uint16 cannot be an image; allowed: uint8"),
        (np.zeros((2, 3, 3), bool), "'x': dtype bool cannot be an image"),
        (np.full((2, 3, 3), np.nan), "'x': 18 pixel values are NaN or inf"),
        (np.array([[[0.0, -np.inf]]]), "'x': 1 pixel values are NaN or inf"),
        (np.full((2, 3, 3), 2.0), r"'x': float64 pixels span \[2, 2\]; allowed: uint8 0-255 or"),
        (np.zeros((2, 5, 5, 3), np.uint8), "'x': images have 5 channels, .*looks channels-last"),
        (np.zeros((2, 2, 5, 5), np.uint8), "'x': images have 2 channels, allowed 1 or 3$"),
        (np.zeros((2, 5)), r"'x': images must be \(N, H, W\) or \(N, C, H, W\), got shape"),
    ],
)
def test_arrays_that_cannot_be_images_are_refused(tmp_path, x, fault):
    path = npz(tmp_path / "bad.npz", x=x)
    with pytest.raises(D.DataError, match=f"bad.npz: {fault}") as e:
        D.load_npz(path)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("y", "fault"),
    [
        (np.zeros(3), r"'y' must be \(N,\) with N = 2, got \(3,\)"),
        (np.zeros((2, 1)), r"'y' must be \(N,\) with N = 2, got \(2, 1\)"),
        (np.array(["a", "b"]), "array 'y' has dtype <U1"),
        (np.array([0.0, np.nan]), "'y': float labels must be finite whole numbers"),
        (np.array([-3, 1]), r"'y': labels span \[-3, 1\]"),
        (np.array([0, 2**40]), r"'y': labels span \[0, 1099511627776\]; allowed: 0 <= label"),
    ],
)
def test_bad_labels_are_refused(tmp_path, y, fault):
    path = npz(tmp_path / "lab.npz", x=np.zeros((2, 3, 3), np.uint8), y=y)
    with pytest.raises(D.DataError, match=f"lab.npz: {fault}"):
        D.load_npz(path)


def test_missing_keys_and_non_npz_files(tmp_path):
    with pytest.raises(D.DataError, match="nox.npz: no array 'x' .found: images, y.$"):
        D.load_npz(npz(tmp_path / "nox.npz", images=np.zeros((2, 4, 4)), y=np.zeros(2)))
    empty = tmp_path / "empty.npz"
    with zipfile.ZipFile(empty, "w"):
        pass  # an archive with no arrays at all
    with pytest.raises(D.DataError, match=r"empty.npz: no array 'x' \(found: none\)"):
        D.load_npz(empty)
    npy = tmp_path / "array.npz"
    np.save(npy.with_suffix(".npy"), np.zeros(3))
    npy.with_suffix(".npy").rename(npy)
    with pytest.raises(D.DataError, match=r"array.npz: not a readable .npz file \(BadZipFile"):
        D.load_npz(npy)
    with pytest.raises(D.DataError, match="missing.npz: not a readable .npz file"):
        D.load_npz(tmp_path / "missing.npz")


def _npz_with_member(path, member_bytes, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        zf.writestr("x.npy", member_bytes)
    return path


def _npy(array, header_shape=None):
    buf = io.BytesIO()
    np.save(buf, array)
    raw = buf.getvalue()
    if header_shape is not None:
        header = np.lib.format.header_data_from_array_1_0(array) | {"shape": header_shape}
        out = io.BytesIO()
        np.lib.format.write_array_header_1_0(out, header)
        raw = out.getvalue() + array.tobytes()
    return raw


def test_header_declaring_more_data_than_the_file_holds_is_refused(tmp_path):
    huge = _npz_with_member(tmp_path / "huge.npz", _npy(np.zeros(8, np.uint8), (10**12, 28)))
    with pytest.raises(D.DataError, match=r"huge.npz: array 'x' declares shape \(1000000000000, "):
        D.load_npz(huge)
    over = _npz_with_member(tmp_path / "over.npz", _npy(np.zeros(8, np.uint8), (2**40,) * 4))
    with pytest.raises(D.DataError, match="over.npz: array 'x' declares .*more than the file"):
        D.load_npz(over)
    short = _npz_with_member(tmp_path / "short.npz", _npy(np.zeros(18, np.uint8), (4, 3, 3)))
    with pytest.raises(D.DataError, match=r"short.npz: array 'x' has 18 data bytes, .* needs 36"):
        D.load_npz(short)
    long = _npz_with_member(tmp_path / "long.npz", _npy(np.zeros(18, np.uint8), (1, 3, 3)))
    with pytest.raises(
        D.DataError, match=r"long.npz: array 'x' has data after the 9 bytes .*\(padded\)"
    ):
        D.load_npz(long)


def test_corrupt_deflate_member_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    np.savez_compressed(path, x=np.random.default_rng(0).integers(0, 256, (50, 28, 28), np.uint8))
    raw = bytearray(path.read_bytes())
    raw[200:260] = bytes(60)
    path.write_bytes(bytes(raw))
    with pytest.raises(D.DataError, match=r"c.npz: not a readable .npz file \((error|BadZipFile)"):
        D.load_npz(path)
