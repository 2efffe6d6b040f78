"""Unsupported files are refused with one line per node (op type, node name, why); the CLI
writes a spec and weights that load back, and exits 2 (writing nothing) on refusal."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import triptych
from triptych.cli import main
from triptych.onnx_import import UnsupportedOnnx

from .conftest import ort_run


def _model(nodes, inits, out_shape, opset=18) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", *out_shape])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8  # what ORT here reads (it refuses onnx's newest default)
    return model


def _w(*shape):
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def _unsupported_file(tmp_path):
    nodes = [
        helper.make_node("Conv", ["x", "wr"], ["a"], name="oblong", pads=[2, 0, 2, 0],
                         kernel_shape=[3, 1], dilations=[2, 1]),
        helper.make_node("Erf", ["x"], ["b"], name="lone_erf"),
        helper.make_node("Hardmax", ["x"], ["c"], name="hard", axis=1),
        helper.make_node("Add", ["a", "b"], ["ab"], name="add1"),
        helper.make_node("Add", ["ab", "c"], ["y"], name="add2"),
    ]  # fmt: skip
    model = _model(nodes, {"wr": _w(4, 4, 3, 1)}, (4, 8, 8))
    path = tmp_path / "bad.onnx"
    onnx.save(model, path)
    return path


def test_refusal_names_every_node(tmp_path):
    with pytest.raises(UnsupportedOnnx) as err:
        triptych.import_onnx(_unsupported_file(tmp_path))
    lines = err.value.problems
    assert len(lines) == 3, lines
    assert lines[0].startswith("Conv oblong: non-square dilations [2, 1]")
    assert lines[1].startswith("Erf lone_erf: op Erf has no counterpart")
    assert lines[2].startswith("Hardmax hard: op Hardmax has no counterpart")


def test_small_graph_imports_with_constants_folded(tmp_path):
    """A Constant node, a folded Transpose of an initializer (Gemm transB=0), global pool and
    Flatten: imported and equal to ORT."""
    w = _w(4, 3)
    nodes = [
        helper.make_node("Constant", [], ["wt"], value=numpy_helper.from_array(w.T.copy())),
        helper.make_node("Transpose", ["wt"], ["w2"], perm=[1, 0]),
        helper.make_node("GlobalAveragePool", ["x"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "w2", "b"], ["y"], name="fc"),
    ]
    model = _model(nodes, {"b": _w(3)}, (3,))
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 3
    path = tmp_path / "small.onnx"
    onnx.save(model, path)
    spec, weights = triptych.import_onnx(path)
    x = _w(2, 4, 8, 8)
    got = triptych.create(spec, framework="torch", weights=weights).predict(x)
    assert np.abs(got - ort_run(path, x)).max() < 1e-6


def test_cli_import_writes_loadable_files(tmp_path, capsys):
    model = triptych.create("conv_autoencoder", framework="torch", seed=3)
    path = model.export_onnx(tmp_path / "onnx", exporter="torchscript")["decoder"]
    out = tmp_path / "imported"
    assert main(["import", str(path), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "conv_autoencoder.json", "conv_autoencoder.safetensors"]  # fmt: skip
    spec = triptych.common.spec.ModelSpec.from_json((out / "conv_autoencoder.json").read_text())
    loaded = triptych.load(out / "conv_autoencoder.safetensors", framework="mxnet")
    assert loaded.spec.hash == spec.hash
    z = _w(2, *spec.input_shape)
    assert np.abs(loaded.predict(z) - model.predict(z, network="decoder")).max() < 1e-6


def test_cli_import_exit_2_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["import", str(_unsupported_file(tmp_path)), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Erf lone_erf" in err and "Conv oblong" in err and "Hardmax hard" in err
    assert not out.exists() or not any(out.iterdir())


def test_parity_import_flag(tmp_path, capsys):
    model = triptych.create("classifier", framework="tensorflow", seed=2)
    path = model.export_onnx(tmp_path)["head"]
    rc = main(["parity", "--onnx", str(path), "--import", "--batch", "1,3"])
    assert rc == 0, capsys.readouterr().out
