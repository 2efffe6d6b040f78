"""A zero Pad of H and W that feeds only a Conv folds into the Conv's pads (the graph then
computes the same numbers in ONNX Runtime); a Pad with another value or another consumer
stays."""

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from triptych.export.postprocess import fold_zero_pads


def _graph(value: float, second_consumer: bool) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((3, 1, 3, 3)).astype(np.float32), "w")
    pads = numpy_helper.from_array(np.array([0, 0, 0, 1, 0, 0, 1, 2], np.int64), "pads")
    fill = numpy_helper.from_array(np.array(value, np.float32), "fill")
    nodes = [
        helper.make_node("Pad", ["x", "pads", "fill"], ["p"]),
        helper.make_node("Conv", ["p", "w"], ["y"], group=3, pads=[1, 0, 1, 0]),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 6, 7])]
    if second_consumer:
        nodes.append(helper.make_node("Relu", ["p"], ["r"]))
        outputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, [2, 3, 6, 9]))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 5, 6])],
        outputs, [w, pads, fill],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    return model


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x})[0]


def test_a_zero_pad_folds_into_the_conv_and_computes_the_same():
    model = _graph(0.0, second_consumer=False)
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 6)).astype(np.float32)
    before = _run(model, x)
    assert fold_zero_pads(model.graph) == 1
    conv = model.graph.node[0]
    assert [n.op_type for n in model.graph.node] == ["Conv"] and conv.input[0] == "x"
    assert list(next(a for a in conv.attribute if a.name == "pads").ints) == [1, 1, 2, 2]
    onnx.checker.check_model(model, full_check=True)
    np.testing.assert_array_equal(_run(model, x), before)


def test_a_nonzero_or_shared_pad_stays():
    for model in (_graph(1.0, second_consumer=False), _graph(0.0, second_consumer=True)):
        assert fold_zero_pads(model.graph) == 0
        assert model.graph.node[0].op_type == "Pad"
