"""Property-based fuzzing of the file loaders: random bytes and mutated valid IDX / NPZ files
either load as a well-formed Dataset or raise DataError, never any other exception.

Deterministic (``derandomize``) and without an example database, so runs are repeatable and
write nothing; ``EXAMPLES`` per property keeps the whole file to a few seconds.
"""

import gzip
import io
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triptych.common import data as D

EXAMPLES = 250
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
IDX_DTYPES = [(0x08, np.uint8), (0x09, np.int8), (0x0B, ">i2"), (0x0D, ">f4"), (0x0E, ">f8")]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def check(ds):
    """What every Dataset a loader returns satisfies."""
    assert isinstance(ds, D.Dataset)
    assert ds.x.ndim == 4 and ds.x.dtype == np.float32 and ds.x.shape[1] in (1, 3)
    assert np.isfinite(ds.x).all() and ds.x.min() >= 0.0 and ds.x.max() <= 1.0
    if ds.y is not None:
        assert ds.y.dtype == np.int64 and ds.y.shape == (len(ds.x),) and ds.y.min() >= 0


def loads_or_refuses(load, *args):
    try:
        ds = load(*args)
    except D.DataError as e:
        message = str(e)
        assert message and "\n" not in message
        return None
    check(ds)
    return ds


@st.composite
def idx_files(draw):
    """Valid IDX bytes of a small array of any IDX type (images 3-D, labels 1-D)."""
    code, dtype = draw(st.sampled_from(IDX_DTYPES))
    shape = draw(st.sampled_from([(2, 3, 4), (1, 28, 28), (5,), (3, 2, 2)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if np.dtype(dtype).kind == "f":
        array = rng.random(shape).astype(dtype)
    else:
        array = rng.integers(0, 128, shape).astype(dtype)
    header = bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    return header + array.tobytes()


@st.composite
def mutated(draw, base):
    """``base`` bytes with 1-4 mutations: overwrite, flip, truncate, insert or header dims."""
    raw = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["overwrite", "flip", "truncate", "insert", "dims"]))
        at = draw(st.integers(0, max(len(raw) - 1, 0)))
        if kind == "overwrite" and raw:
            raw[at] = draw(st.integers(0, 255))
        elif kind == "flip" and raw:
            raw[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del raw[at:]
        elif kind == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "dims" and len(raw) >= 8:
            raw[4:8] = struct.pack(">I", draw(st.sampled_from([0, 1, 2**31, 2**32 - 1])))
    return bytes(raw)


GOOD_DTYPES = [np.uint8, np.float32, np.float64]


@st.composite
def npz_files(draw, valid=False):
    """NPZ bytes (stored or deflated) with ``x`` and sometimes ``y``; ``valid=False`` also
    draws dtypes that cannot be images (int16, complex64) and label counts that do not fit."""
    dtypes = GOOD_DTYPES if valid else [*GOOD_DTYPES, np.int16, np.complex64]
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(st.sampled_from([(2, 3, 3), (1, 3, 4, 4), (2, 1, 2, 2)]))
    x = (np.arange(int(np.prod(shape))) % 2).astype(dtype).reshape(shape)
    arrays = {"x": x}
    if draw(st.booleans()):
        arrays["y"] = np.arange(shape[0] if valid else draw(st.integers(1, 3)))
    buf = io.BytesIO()
    (np.savez_compressed if draw(st.booleans()) else np.savez)(buf, **arrays)
    return buf.getvalue()


@FUZZ
@given(raw=st.binary(max_size=300), gz_name=st.booleans())
def test_random_bytes_as_idx(workdir, raw, gz_name):
    path = workdir / ("r-images-idx3-ubyte" + (".gz" if gz_name else ""))
    path.write_bytes(raw)
    loads_or_refuses(D.load_idx, path)
    loads_or_refuses(D.load_npz, path)


@FUZZ
@given(raw=st.binary(max_size=300).map(lambda b: gzip.compress(b, mtime=0)), cut=st.integers(0, 40))
def test_random_and_cut_gzip_streams(workdir, raw, cut):
    path = workdir / "g-images-idx3-ubyte.gz"
    path.write_bytes(raw[: len(raw) - cut])
    loads_or_refuses(D.load_idx, path)


@FUZZ
@given(raw=mutated(idx_files()), compress=st.booleans(), labels=mutated(idx_files()))
def test_mutated_idx(workdir, raw, compress, labels):
    images = workdir / ("m-images-idx3-ubyte" + (".gz" if compress else ""))
    images.write_bytes(gzip.compress(raw, mtime=0) if compress else raw)
    label_path = workdir / "m-labels-idx1-ubyte"
    label_path.write_bytes(labels)
    loads_or_refuses(D.load_idx, images)
    loads_or_refuses(D.load_idx, images, label_path)


@FUZZ
@given(raw=mutated(st.just(gzip.compress(bytes(range(256)) * 4, mtime=0))))
def test_mutated_gzip_container(workdir, raw):
    path = workdir / "z-images-idx3-ubyte.gz"
    path.write_bytes(raw)
    try:
        D.read_idx(path)
    except D.DataError as e:
        assert "\n" not in str(e)


@FUZZ
@given(raw=mutated(npz_files()))
def test_mutated_npz(workdir, raw):
    path = workdir / "m.npz"
    path.write_bytes(raw)
    loads_or_refuses(D.load_npz, path)


@st.composite
def npy_members(draw):
    """Valid .npy bytes of an ``x`` array (any good dtype, C or Fortran order)."""
    dtype = draw(st.sampled_from(GOOD_DTYPES))
    x = np.zeros(draw(st.sampled_from([(2, 3, 3), (1, 1, 4, 4)])), dtype)
    buf = io.BytesIO()
    np.save(buf, np.asfortranarray(x) if draw(st.booleans()) else x)
    return buf.getvalue()


@FUZZ
@given(member=mutated(npy_members()), compression=st.sampled_from([0, 8]))
def test_mutated_npy_inside_a_valid_zip(workdir, member, compression):
    """The .npy header and data mutated, the zip around it intact (CRC matches)."""
    path = workdir / "n.npz"
    with zipfile.ZipFile(path, "w", compression) as zf:
        zf.writestr("x.npy", member)
    loads_or_refuses(D.load_npz, path)


def test_the_unmutated_inputs_are_valid(workdir):
    """The strategies' unmutated outputs load, so the mutations start from valid files."""
    once = settings(max_examples=20, derandomize=True, database=None, deadline=None)

    @once
    @given(raw=idx_files())
    def idx_ok(raw):
        assert D.parse_idx(raw, "f").size > 0

    @once
    @given(raw=npz_files(valid=True))
    def npz_ok(raw):
        path = workdir / "ok.npz"
        path.write_bytes(raw)
        check(D.load_npz(path))

    idx_ok()
    npz_ok()
