"""Einsum outside attention: a linear map of the data's last axis by a constant weight
(``torch.einsum("bld,dk->blk", x, W) + b`` under both torch exporters, Keras' EinsumDense
through tf2onnx, hand-written graphs) imports as Dense (a 1x1 Conv2d on an NHWC view), the
bias Add folded in, and matches ORT on the file in every framework the importer tests use
within 1e-5 of the output's scale. Any other equation is refused, naming the node and the
equation, beside the file's other refusals."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import triptych
from triptych.onnx_import import UnsupportedOnnx
from triptych.onnx_import.errors import Unsupported
from triptych.onnx_import.ops.einsum import linear_einsum

from .conftest import max_diff_per_framework

TOL = 1e-5


def _kinds(spec) -> list[str]:
    return [type(layer).__name__ for layer in spec.networks["net"].layers]


def _dense_biases(spec, weights) -> list[bool]:
    """Whether each Dense of the imported spec has a (non-zero) bias."""
    layers = spec.networks["net"].layers
    out = []
    for layer in layers:
        if type(layer).__name__ == "Dense":
            keys = [k for k in weights if k.endswith(f".{layer.name}.bias")]
            out.append(bool(keys) and bool(np.abs(weights[keys[0]]).max() > 0))
    return out


# -- torch.einsum ---------------------------------------------------------------------------
#: equation -> (weight shape, bias shape, on the flattened patches rather than the tokens)
TORCH_CASES = {
    "bld,dk->blk": ((8, 6), (6,), False),
    "...d,dk->...k": ((8, 6), (6,), False),
    "bld,kd->blk": ((6, 8), (6,), False),  # the weight transposed
    "bld,dke->blke": ((8, 2, 3), (2, 3), False),  # two new axes, flattened back after
    "bd,kd->bk": ((5, 72), (5,), True),
}


class _EinsumHead(torch.nn.Module):
    """2x2 patches of a (2, 6, 6) image to (9, 8) tokens plus a learned position table (so
    the tokens are a tensor of their own, not a view of the patch image), then
    ``einsum(equation, tokens, W) + b`` (with ``flat``: on the flattened patches)."""

    def __init__(self, equation: str) -> None:
        super().__init__()
        w, b, self.flat = TORCH_CASES[equation]
        self.equation = equation
        self.patch = torch.nn.Conv2d(2, 8, 2, stride=2)
        self.position = torch.nn.Parameter(0.1 * torch.randn(1, 9, 8))
        self.w = torch.nn.Parameter(torch.randn(*w) / np.sqrt(8))
        self.b = torch.nn.Parameter(torch.randn(*b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch(x)
        t = p.flatten(1) if self.flat else p.flatten(2).transpose(1, 2) + self.position
        y = torch.einsum(self.equation, t, self.w) + self.b
        return y.flatten(2) if y.dim() == 4 else y


@pytest.mark.parametrize(
    ("equation", "exporter"),
    [(eq, "dynamo") for eq in TORCH_CASES] + [("bld,dk->blk", "torchscript"),
                                             ("bd,kd->bk", "torchscript")],
)  # fmt: skip
def test_torch_einsum_imports_as_dense(tmp_path, probe, equation, exporter):
    torch.manual_seed(0)
    module = _EinsumHead(equation).eval()
    path = tmp_path / "einsum.onnx"
    torch.onnx.export(module, (torch.randn(2, 2, 6, 6),), str(path), input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "b"}, "y": {0: "b"}},
                      opset_version=17, dynamo=exporter == "dynamo")  # fmt: skip
    assert "Einsum" in {n.op_type for n in onnx.load(str(path)).graph.node}
    spec, weights = triptych.import_onnx(path)
    kinds = _kinds(spec)
    if TORCH_CASES[equation][2]:
        assert kinds == ["Conv2d", "Flatten", "Dense"], kinds
    else:
        assert kinds[:4] == ["Conv2d", "Tokens", "PositionEmbedding", "Dense"], kinds
    assert _dense_biases(spec, weights) == [True]  # the Add of b folded into the Dense
    diffs = max_diff_per_framework(spec, weights, path, probe((2, 6, 6)))
    assert max(diffs.values()) <= TOL, diffs


# -- Keras EinsumDense through tf2onnx ------------------------------------------------------
#: equation -> (output_shape, bias_axes, does the file keep an Einsum node). Keras 3's
#: TensorFlow backend writes "abc,cd->abd" as MatMul itself; an ellipsis equation reaches
#: tf2onnx as an Einsum, which tf2onnx's Einsum rewrite cannot take (it reads letters only)
KERAS_CASES = {
    "abc,cd->abd": ((16, 12), "d", False),
    "...c,cd->...d": (12, "d", True),
    "...c,cde->...de": ((2, 6), "de", True),  # Reshape((16, 12)) after it
}


@pytest.mark.parametrize("equation", sorted(KERAS_CASES))
def test_keras_einsum_dense_through_tf2onnx(tmp_path, probe, equation):
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    tf2onnx = pytest.importorskip("tf2onnx")
    out_shape, bias_axes, kept = KERAS_CASES[equation]
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    y = keras.layers.Reshape((16, 16))(keras.layers.Conv2D(16, 2, strides=2)(inputs))
    dense = keras.layers.EinsumDense(equation, output_shape=out_shape, bias_axes=bias_axes)
    y = dense(y)
    if len(dense.bias.shape) > 1:
        y = keras.layers.Reshape((16, 12))(y)
    rng = np.random.default_rng(1)  # Keras starts the bias at zero (tf2onnx drops + 0)
    dense.bias.assign(rng.standard_normal(dense.bias.shape).astype(np.float32))
    model = keras.Model(inputs, y)
    fn = tf.function(lambda x: {"out": model(x, training=False)})
    sig = [tf.TensorSpec([None, 8, 8, 3], tf.float32, name="input")]
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=sig, opset=17,
                                             inputs_as_nchw=["input:0"])  # fmt: skip
    assert ("Einsum" in {n.op_type for n in proto.graph.node}) == kept
    path = tmp_path / "einsum_dense.onnx"
    path.write_bytes(proto.SerializeToString())
    spec, weights = triptych.import_onnx(path)
    kinds = _kinds(spec)
    assert "Dense" in kinds or kinds.count("Conv2d") == 2, kinds  # 1x1 Conv2d on the view
    assert not {"ChannelAffine", "Add", "PositionEmbedding"} & set(kinds), kinds  # bias folded
    diffs = max_diff_per_framework(spec, weights, path, probe((3, 8, 8)))
    assert max(diffs.values()) <= TOL, diffs


# -- hand-written graphs --------------------------------------------------------------------
def _w(*shape: int) -> np.ndarray:
    return np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)


def _save(tmp_path, nodes, inits, out_dims, name="g.onnx"):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", *out_dims])],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what ORT here reads
    path = tmp_path / name
    onnx.save(model, path)
    return path


#: name -> (data view of x, equation with "x" for the data and "w" for the weight's place,
#: weight shape, bias shape, output per-sample shape, expected layers)
GRAPH_CASES = {
    "tokens": ("tokens", "bld,dk->blk", "xw", (64, 5), (5,), (4, 5), ["Flatten", "Dense"]),
    "weight_first": ("tokens", "dk,bld->blk", "wx", (64, 5), (5,), (4, 5),
                     ["Flatten", "Dense"]),
    "implicit_output": ("tokens", "abc,cd", "xw", (64, 5), (5,), (4, 5), ["Flatten", "Dense"]),
    "two_new_axes": ("tokens", "abc,cde->abde", "xw", (64, 2, 3), (2, 3), (4, 2, 3),
                     ["Flatten", "Dense", "Flatten", "Unflatten"]),
    "new_axes_swapped": ("tokens", "abc,ced->abde", "xw", (64, 3, 2), (2, 3), (4, 2, 3),
                         ["Flatten", "Dense", "Flatten", "Unflatten"]),
    "flat_transposed": ("flat", "bd,kd->bk", "xw", (5, 256), (5,), (5,), ["Flatten", "Dense"]),
    "nhwc": ("nhwc", "abcd,de->abce", "xw", (4, 6), (6,), (6, 8, 8), ["Conv2d"]),
}  # fmt: skip


def _graph_case(tmp_path, case: str):
    view, equation, order, w_shape, b_shape, out, _ = GRAPH_CASES[case]
    nodes, inits = [], {"w": _w(*w_shape), "bias": _w(*b_shape)}
    if view == "tokens":
        inits["shape"] = np.array([0, 4, 64], np.int64)
        nodes.append(helper.make_node("Reshape", ["x", "shape"], ["d"], name="to_tokens"))
    elif view == "flat":
        nodes.append(helper.make_node("Flatten", ["x"], ["d"], name="flat"))
    else:
        nodes.append(helper.make_node("Transpose", ["x"], ["d"], name="nhwc", perm=[0, 2, 3, 1]))
    ins = ["d", "w"] if order == "xw" else ["w", "d"]
    nodes.append(helper.make_node("Einsum", ins, ["e"], name="ein", equation=equation))
    last = "y" if view != "nhwc" else "z"
    nodes.append(helper.make_node("Add", ["e", "bias"], [last], name="bias_add"))
    if view == "nhwc":
        nodes.append(helper.make_node("Transpose", ["z"], ["y"], name="nchw", perm=[0, 3, 1, 2]))
    return _save(tmp_path, nodes, inits, out)


@pytest.mark.parametrize("case", sorted(GRAPH_CASES))
def test_hand_written_einsum_imports(tmp_path, probe, case):
    path = _graph_case(tmp_path, case)
    spec, weights = triptych.import_onnx(path)
    assert _kinds(spec) == GRAPH_CASES[case][-1]
    diffs = max_diff_per_framework(spec, weights, path, probe((4, 8, 8)))
    assert max(diffs.values()) <= TOL, diffs


def test_unsupported_einsum_is_refused_with_the_other_nodes(tmp_path):
    """A batched product of two data values (no attention around it) and an op without a
    converter: one line each, the Einsum's naming its equation."""
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["a"], name="rows"),
        helper.make_node("Transpose", ["a"], ["at"], name="cols", perm=[0, 2, 1]),
        helper.make_node("Einsum", ["a", "at"], ["gram"], name="gram",
                         equation="bij,bjk->bik"),
        helper.make_node("Hardmax", ["x"], ["h"], name="hard", axis=1),
        helper.make_node("Flatten", ["gram"], ["gf"], name="gram_flat"),
        helper.make_node("Flatten", ["h"], ["hf"], name="hard_flat"),
        helper.make_node("Concat", ["gf", "hf"], ["y"], name="cat", axis=1),
    ]  # fmt: skip
    path = _save(tmp_path, nodes, {"shape": np.array([0, 4, 64], np.int64)}, (16 + 256,))
    with pytest.raises(UnsupportedOnnx) as err:
        triptych.import_onnx(path)
    lines = err.value.problems
    assert len(lines) == 2, lines
    assert lines[0].startswith("Einsum gram: equation 'bij,bjk->bik': a product of two data")
    assert lines[1].startswith("Hardmax hard: op Hardmax has no counterpart")
    assert "Einsum gram" in str(err.value) and "'bij,bjk->bik'" in str(err.value)


@pytest.mark.parametrize(
    ("equation", "constant", "why"),
    [
        ("bij,bjk->bik", (False, False), "a product of two data values"),
        ("bld,ld->bl", (False, True), r"shares the data's axes \['l'\]"),
        ("bld,dk->bkl", (False, True), "not the data's other axes in order.*'blk'"),
        ("bld,dk", (False, True), "not the data's other axes in order"),  # implicit: bkl
        ("bii,ij->bj", (False, True), "repeat an axis"),
        ("bld,d->bl", (False, True), "no axis besides the contracted one"),
        ("bld,kl->bdk", (False, True), "last axis 'd' is not contracted"),
        ("bld,dk,km->blm", (False, True, True), "3 operand"),
        ("bld,...k->blk", (False, True), "an ellipsis in the weight"),
    ],
)
def test_other_equations_are_refused_naming_them(equation, constant, why):
    with pytest.raises(Unsupported, match=why) as err:
        linear_einsum(equation, constant)
    assert f"equation {equation!r}" in str(err.value)


def test_linear_equations_read_the_weight_layout():
    form = linear_einsum("bd,kd->bk", (False, True))
    assert (form.weight, form.perm, form.new) == (1, (0, 1), 1)
    form = linear_einsum("dke,...d->...ek", (True, False))
    assert (form.weight, form.perm, form.new) == (0, (2, 1, 0), 2)
