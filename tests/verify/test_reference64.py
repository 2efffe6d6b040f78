"""The numpy reference evaluator in float64 is the oracle of an ONNX file: it computes what
the framework's float64 build computes, and the bound derived from it catches a weight
perturbation that the fixed float32 tolerance lets through."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import triptych
from triptych.verify.files import file_alone, file_vs_model
from triptych.verify.inputs import probe_batch
from triptych.verify.oracle import floor
from triptych.verify.reference64 import Float64Reference, as_float64

MODEL, NETWORK = "conv_autoencoder", "encoder"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    fw = triptych.frameworks()[0]
    model = triptych.create(MODEL, framework=fw, seed=5)
    root = tmp_path_factory.mktemp("ref64")
    path = model.export_onnx(root, networks=[NETWORK], exporter=model.backend.fast_exporter)
    return model, path[NETWORK]


def test_the_float64_copy_is_float64_and_the_original_untouched(exported):
    _, path = exported
    original = onnx.load(path)
    copy = as_float64(original)
    kinds = {t.data_type for t in copy.graph.initializer}
    assert onnx.TensorProto.FLOAT not in kinds
    assert all(t.data_type == onnx.TensorProto.FLOAT for t in original.graph.initializer)
    assert copy.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE


def test_it_computes_in_float64(tmp_path):
    """A conv + bias graph against the same convolution in float64 torch, and the float32
    reference evaluator as the contrast."""
    torch = pytest.importorskip("torch", reason="torch computes the float64 convolution")
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w", "b"], ["output"], pads=[1, 1, 1, 1])],
        "conv",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 4, 8, 8])],
        [numpy_helper.from_array(w.astype(np.float32), "w"),
         numpy_helper.from_array(b.astype(np.float32), "b")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "conv.onnx")
    exact = torch.nn.functional.conv2d(
        torch.tensor(x, dtype=torch.float64),
        torch.tensor(w.astype(np.float32), dtype=torch.float64),
        torch.tensor(b.astype(np.float32), dtype=torch.float64),
        padding=1,
    ).numpy()
    y64 = Float64Reference(tmp_path / "conv.onnx")(x)
    y32 = ReferenceEvaluator(model).run(None, {"input": x})[0]
    assert y64.dtype == np.float64
    assert np.abs(y64 - exact).max() <= 1e-13 * np.abs(exact).max()
    assert np.abs(y32 - exact).max() > 1e-9 * np.abs(exact).max()  # float32 rounds


def test_a_zoo_file_in_float64_is_the_float64_build_up_to_export_rounding(exported):
    """torch's exporter folds BatchNorm into the convolutions in float32: the file's own
    float64 result differs from the build's by that rounding (a few float32 ulps), no more."""
    model, path = exported
    x = probe_batch(model.spec.networks[NETWORK].input_shape, 3, 0, NETWORK)
    build64 = triptych.Model(model.spec, model.framework, model.get_weights(), dtype="float64")
    oracle = build64.forward(x.astype(np.float64), NETWORK)
    assert np.abs(Float64Reference(path)(x) - oracle).max() <= floor(oracle)


def test_a_file_alone_is_judged_against_its_float64_evaluation(exported):
    _, path = exported
    report = file_alone(path)
    assert report and report.checks
    assert all(c.oracle is not None for c in report.checks)


def test_a_perturbed_file_is_caught_by_the_derived_bound_not_by_the_fixed_one(exported, tmp_path):
    model, path = exported
    proto = onnx.load(path)
    # the largest weight tensor 3e-5 relative off: inside atol 1e-5 + rtol 1e-4 at the output
    biggest = max(proto.graph.initializer, key=lambda t: np.prod(t.dims))
    array = numpy_helper.to_array(biggest) * np.float32(1 + 3e-5)
    biggest.CopyFrom(numpy_helper.from_array(array, biggest.name))
    bad = tmp_path / "perturbed.onnx"
    onnx.save(proto, bad)
    fws = [model.framework]
    weights = model.get_weights()
    fixed = file_vs_model(bad, model.spec, fws, weights=weights, network=NETWORK, atol=1e-5,
                          rtol=1e-4)  # fmt: skip
    derived = file_vs_model(bad, model.spec, fws, weights=weights, network=NETWORK)
    clean = file_vs_model(path, model.spec, fws, weights=weights, network=NETWORK)
    assert fixed and not derived and clean
