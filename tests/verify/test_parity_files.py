"""Parity on files: a checkpoint's own weights are what every level checks, `--onnx FILE`
checks the file against every selected framework loaded with them, and a foreign ONNX file
with no model gets what needs no spec."""

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import triptych
from triptych.cli import main


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Two checkpoints of one spec with different weights, and the ONNX of the first."""
    root = tmp_path_factory.mktemp("ckpt")
    fw = triptych.frameworks()[0]
    first = triptych.create("linear_autoencoder", framework=fw, seed=11)
    second = triptych.create("linear_autoencoder", framework=fw, seed=12)
    a, b = first.save(root / "a.safetensors"), second.save(root / "b.safetensors")
    exporter = first.backend.fast_exporter
    onnx_file = first.export_onnx(root, networks=["decoder"], exporter=exporter)["decoder"]
    return a, b, onnx_file


def test_onnx_from_a_checkpoint_passes_against_it_and_fails_against_another(
    checkpoints, capsys, tmp_path
):
    a, b, onnx_file = checkpoints
    fws = triptych.frameworks()
    args = ["--onnx", str(onnx_file), "--network", "decoder", "--json", str(tmp_path / "r.json")]
    assert main(["parity", str(a), *args]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    checked = {c["b"]["framework"] for c in report["checks"]}
    assert checked == set(fws)  # every selected framework, not only the first
    assert report["weights_source"] == str(a)
    assert main(["parity", str(b), *args]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_the_matrix_of_a_checkpoint_uses_its_weights(checkpoints, tmp_path):
    a, _, _ = checkpoints
    report = triptych.parity(a, train_steps=0, reference=False, batches=(2,), out_dir=tmp_path)
    assert report and report.weights_source == str(a)
    seeded = triptych.create("linear_autoencoder", framework=report.frameworks[0], seed=11)
    path = report.files[report.frameworks[0]]["decoder"]
    mine = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    assert any(np.array_equal(v, seeded.get_weights()["decoder.0.weight"]) for v in mine.values())


def _foreign(path, batch_dim="N"):
    """A small conv + relu graph written with onnx.helper, as a file made elsewhere."""
    w = numpy_helper.from_array(
        np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w"
    )
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c"], ["output"]),
        ],
        "foreign",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch_dim, 3, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch_dim, 4, 8, 8])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_a_foreign_file_alone_gets_what_needs_no_spec(tmp_path, capsys):
    path = _foreign(tmp_path / "foreign.onnx")
    out = tmp_path / "r.json"
    assert main(["parity", "--onnx", str(path), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    kinds = {(c["a"]["kind"], c["b"]["kind"]) for c in report["checks"]}
    assert kinds == {("ort", "reference"), ("ort-basic", "ort")}
    assert {c["batch"] for c in report["checks"]} == {1, 37}
    assert any("need a spec" in s for s in report["skipped"])
    assert "not checked" in capsys.readouterr().out


def test_a_foreign_file_with_a_fixed_batch_says_so(tmp_path):
    from triptych.verify.files import file_alone

    result = file_alone(_foreign(tmp_path / "fixed.onnx", batch_dim=2))
    assert result and {c.batch for c in result.checks} == {2}
    assert any("fixed at 2" in s for s in result.skipped)


def test_parity_needs_a_model_or_a_file(capsys):
    assert main(["parity"]) == 2
    assert "give a MODEL" in capsys.readouterr().err
