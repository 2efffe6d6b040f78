import json

import numpy as np
import pytest

from triptych.common import zoo
from triptych.common.init import init_weights
from triptych.common.weights import (
    WeightsError,
    check_weights,
    load_weights,
    read_metadata,
    save_weights,
)


def test_safetensors_round_trip_with_metadata(tmp_path):
    spec = zoo.create_spec("conv_autoencoder")
    w = init_weights(spec, 7)
    path = save_weights(tmp_path / "m.safetensors", spec, w, framework="torch")
    spec2, w2, meta = load_weights(path)
    assert spec2.hash == spec.hash == meta["spec_hash"]
    assert meta["model"] == "conv_autoencoder" and meta["framework"] == "torch"
    assert meta["triptych_version"]
    assert set(w2) == set(w)
    assert all(np.array_equal(w[k], w2[k]) for k in w)
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp files left


def test_mismatched_weights_list_every_fault():
    spec = zoo.create_spec("linear_autoencoder")
    w = init_weights(spec, 0)
    w.pop("encoder.1.bias")
    w["decoder.0.weight"] = np.zeros((3, 3), np.float32)
    w["decoder.9.weight"] = np.zeros(2, np.float32)
    with pytest.raises(WeightsError) as e:
        check_weights(spec, w)
    msg = str(e.value)
    assert "3 weight(s)" in msg
    assert "missing encoder.1.bias" in msg
    assert "decoder.0.weight: shape (3, 3), expected (64, 8)" in msg
    assert "unexpected decoder.9.weight" in msg


def test_failed_save_leaves_nothing_behind(tmp_path):
    spec = zoo.create_spec("linear_autoencoder")
    w = init_weights(spec, 0)
    w.pop("encoder.1.weight")
    with pytest.raises(WeightsError):
        save_weights(tmp_path / "bad.safetensors", spec, w)
    assert list(tmp_path.iterdir()) == []


def test_non_triptych_or_corrupt_files_are_refused(tmp_path):
    from safetensors.numpy import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"a": np.zeros(2, np.float32)}, str(plain))
    with pytest.raises(WeightsError, match="no triptych metadata"):
        read_metadata(plain)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        read_metadata(junk)
    spec = zoo.create_spec("linear_autoencoder")
    good = save_weights(tmp_path / "g.safetensors", spec, init_weights(spec, 0))
    meta = read_metadata(good)
    assert json.loads(meta["spec"])["name"] == "linear_autoencoder"
