"""The importer's converters for what modern classifiers export (MobileNet, EfficientNet,
ShuffleNet, DenseNet, ConvNeXt, Keras through tf2onnx): each op or multi-op pattern in a
small hand-built graph, or a small block exported by torch.onnx, imported and run in torch
equal to ORT on the file within 1e-5 relative, with the spec layers it should become."""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

import triptych

from .conftest import ort_run

TOL = 1e-5


def _w(*shape: int, seed: int = 0, low: float | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if low is not None:
        return (low + rng.random(shape)).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


def _check(path, shape: tuple[int, ...]) -> set[str]:
    """Import ``path``, run it in torch against ORT (<= 1e-5 relative); the layer kinds."""
    spec, weights = triptych.import_onnx(path)
    x = _w(2, *shape, seed=3)
    want = ort_run(path, x)
    got = triptych.create(spec, framework="torch", weights=weights).predict(x)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= TOL * max(1.0, float(np.abs(want).max()))
    return {type(layer).__name__ for layer in spec.networks["net"].layers}


def _graph(tmp_path, nodes, inits, shape=(4, 8, 8), opset=17, name="g") -> set[str]:
    """A one-input graph ``x`` (batch, *shape) -> ``y`` of ``nodes``, checked by `_check`."""
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *shape])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model = onnx.shape_inference.infer_shapes(model)  # gives y its shape
    model.ir_version = 8 if opset <= 18 else 9  # what ORT here reads
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    return _check(path, shape)


def _n(op: str, ins: list[str], out: str, **kw) -> onnx.NodeProto:
    return helper.make_node(op, ins, [out], name=out, **kw)


ACTIVATIONS = [
    (
        "clip",
        [_n("Clip", ["x", "lo", "hi"], "y")],
        {"lo": np.float32(-0.5), "hi": np.float32(6)},
        "Clip",
        17,
    ),
    ("relu_as_clip", [_n("Clip", ["x", "lo"], "y")], {"lo": np.float32(0)}, "ReLU", 17),
    ("hard_sigmoid", [_n("HardSigmoid", ["x"], "y", alpha=1 / 6, beta=0.5)], {}, "HardSigmoid", 17),
    ("hard_sigmoid_onnx", [_n("HardSigmoid", ["x"], "y")], {}, "HardSigmoid", 17),
    ("hard_swish", [_n("HardSwish", ["x"], "y")], {}, "HardSwish", 17),
    ("elu", [_n("Elu", ["x"], "y", alpha=0.7)], {}, "ELU", 17),
    ("selu", [_n("Selu", ["x"], "y")], {}, "SELU", 17),
    ("softplus", [_n("Softplus", ["x"], "y")], {}, "Softplus", 17),
    ("mish", [_n("Mish", ["x"], "y")], {}, "Mish", 18),
    ("prelu", [_n("PRelu", ["x", "s"], "y")], {"s": _w(4, 1, 1)}, "PReLU", 17),
    ("prelu_shared", [_n("PRelu", ["x", "s"], "y")], {"s": _w(1)}, "PReLU", 17),
    ("gelu_op", [_n("Gelu", ["x"], "y")], {}, "GELU", 20),
    ("gelu_op_tanh", [_n("Gelu", ["x"], "y", approximate="tanh")], {}, "GELU", 20),
]


@pytest.mark.parametrize("case", ACTIVATIONS, ids=[c[0] for c in ACTIVATIONS])
def test_activation_ops(tmp_path, case):
    name, nodes, inits, kind, opset = case
    assert kind in _graph(tmp_path, nodes, inits, opset=opset, name=name)


SQRT2, HALF, ONE = np.float32(math.sqrt(2)), np.float32(0.5), np.float32(1)
GELU_ORDERS = {
    "torchscript": [
        _n("Div", ["x", "r2"], "d"),
        _n("Erf", ["d"], "e"),
        _n("Add", ["e", "one"], "a"),
        _n("Mul", ["x", "a"], "m"),
        _n("Mul", ["m", "half"], "y"),
    ],
    "dynamo": [
        _n("Div", ["x", "r2"], "d"),
        _n("Erf", ["d"], "e"),
        _n("Add", ["e", "one"], "a"),
        _n("Mul", ["half", "a"], "m"),
        _n("Mul", ["x", "m"], "y"),
    ],
    "half_first": [
        _n("Mul", ["x", "half"], "h"),
        _n("Mul", ["x", "ir2"], "d"),
        _n("Erf", ["d"], "e"),
        _n("Add", ["one", "e"], "a"),
        _n("Mul", ["h", "a"], "y"),
    ],
}


@pytest.mark.parametrize("order", sorted(GELU_ORDERS))
def test_gelu_erf_pattern(tmp_path, order):
    inits = {"r2": SQRT2, "ir2": np.float32(1 / math.sqrt(2)), "half": HALF, "one": ONE}
    kinds = _graph(tmp_path, GELU_ORDERS[order], inits, name=f"gelu_{order}")
    assert kinds == {"GELU"}


@pytest.mark.parametrize(
    ("gate", "kind"),
    [("Sigmoid", "SiLU"), ("HardSigmoid", "HardSwish"), ("Mish", "Mish")],
)
def test_gating_patterns(tmp_path, gate, kind):
    if gate == "Mish":
        nodes = [_n("Softplus", ["x"], "s"), _n("Tanh", ["s"], "g"), _n("Mul", ["g", "x"], "y")]
    else:
        extra = {"alpha": 1 / 6, "beta": 0.5} if gate == "HardSigmoid" else {}
        nodes = [_n(gate, ["x"], "g", **extra), _n("Mul", ["x", "g"], "y")]
    assert _graph(tmp_path, nodes, {}, name=f"gate_{kind}") == {kind}


CONVS = {
    "grouped": ({"group": 2, "pads": [1, 1, 1, 1], "kernel_shape": [3, 3]}, (6, 2, 3, 3)),
    "depthwise": ({"group": 4, "pads": [1, 1, 1, 1], "strides": [2, 2]}, (8, 1, 3, 3)),
    "dilated": ({"dilations": [2, 2], "pads": [2, 2, 2, 2]}, (4, 4, 3, 3)),
    "lopsided": ({"pads": [0, 0, 1, 1], "strides": [2, 2]}, (4, 4, 3, 3)),
    "same_upper": ({"auto_pad": "SAME_UPPER", "strides": [2, 2]}, (4, 4, 4, 4)),
}


@pytest.mark.parametrize("case", sorted(CONVS))
def test_conv_variants(tmp_path, case):
    kw, wshape = CONVS[case]
    nodes = [_n("Conv", ["x", "w", "b"], "y", **kw)]
    inits = {"w": _w(*wshape), "b": _w(wshape[0])}
    assert _graph(tmp_path, nodes, inits, name=f"conv_{case}") == {"Conv2d"}


def test_conv_transpose_grouped_with_output_padding(tmp_path):
    nodes = [
        _n(
            "ConvTranspose",
            ["x", "w"],
            "y",
            group=2,
            strides=[2, 2],
            pads=[1, 1, 1, 1],
            output_padding=[1, 1],
        )
    ]
    assert _graph(tmp_path, nodes, {"w": _w(4, 3, 3, 3)}, name="convt") == {"ConvTranspose2d"}


POOLS = {
    "max_ceil": (
        [_n("MaxPool", ["x"], "y", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)],
        "MaxPool2d",
        (4, 9, 9),
    ),
    "max_same": (
        [_n("MaxPool", ["x"], "y", kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")],
        "MaxPool2d",
        (4, 8, 8),
    ),
    "avg_exclude_pad": (
        [_n("AveragePool", ["x"], "y", kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
        "AvgPool2d",
        (4, 8, 8),
    ),
    "global_max": (
        [_n("GlobalMaxPool", ["x"], "p"), _n("Flatten", ["p"], "y")],
        "GlobalMaxPool",
        (4, 8, 8),
    ),
    "reduce_max": (
        [_n("ReduceMax", ["x"], "y", axes=[2, 3], keepdims=0)],
        "GlobalMaxPool",
        (4, 8, 8),
    ),
    "pad_conv": (
        [_n("Pad", ["x", "pads"], "p"), _n("Conv", ["p", "w"], "y", strides=[2, 2])],
        "Conv2d",
        (4, 8, 8),
    ),
    "pad_relu_maxpool": (
        [
            _n("Relu", ["x"], "r"),
            _n("Pad", ["r", "pads"], "p"),
            _n("MaxPool", ["p"], "y", kernel_shape=[3, 3], strides=[2, 2]),
        ],
        "MaxPool2d",
        (4, 8, 8),
    ),
}


@pytest.mark.parametrize("case", sorted(POOLS))
def test_pool_variants(tmp_path, case):
    nodes, kind, shape = POOLS[case]
    inits = {"pads": np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64), "w": _w(4, 4, 3, 3)}
    inits = {k: v for k, v in inits.items() if any(k in n.input for n in nodes)}
    kinds = _graph(tmp_path, nodes, inits, shape=shape, name=case)
    assert kind in kinds and "Pad" not in kinds


def test_broadcasting_tensor_arithmetic(tmp_path):
    """Squeeze-and-excitation's gate (Mul of (C,H,W) by (C,1,1)), Sub, Div, Max, Min."""
    nodes = [
        _n("GlobalAveragePool", ["x"], "p"),
        _n("Conv", ["p", "w"], "c"),
        _n("Sigmoid", ["c"], "g"),
        _n("Mul", ["x", "g"], "m"),
        _n("Sub", ["m", "x"], "s"),
        _n("Add", ["g", "two"], "g2"),
        _n("Div", ["s", "g2"], "d"),
        _n("Max", ["d", "x"], "mx"),
        _n("Min", ["mx", "m"], "y"),
    ]
    kinds = _graph(tmp_path, nodes, {"w": _w(4, 4, 1, 1), "two": np.float32(2)}, name="se")
    assert {"Mul", "Sub", "Div", "Maximum", "Minimum", "GlobalAvgPool"} <= kinds


def test_keras_input_rescaling_becomes_channel_affine(tmp_path):
    """tf2onnx's NCHW -> NHWC transpose at the input, Rescaling/Normalization in NHWC
    (Mul, Add, Sub, Div by per-channel constants), back to NCHW for a Conv."""
    nodes = [
        _n("Transpose", ["x"], "t", perm=[0, 2, 3, 1]),
        _n("Mul", ["t", "k"], "m"),
        _n("Add", ["m", "o"], "a"),
        _n("Sub", ["a", "mean"], "s"),
        _n("Div", ["s", "std"], "d"),
        _n("Transpose", ["d"], "back", perm=[0, 3, 1, 2]),
        _n("Conv", ["back", "w"], "y"),
    ]
    inits = {
        "k": np.float32(1 / 255),
        "o": np.float32(-0.5),
        "mean": _w(3),
        "std": _w(3, low=0.5),
        "w": _w(4, 3, 3, 3),
    }
    kinds = _graph(tmp_path, nodes, inits, shape=(3, 8, 8), name="keras_input")
    assert kinds == {"ChannelAffine", "Conv2d"}


def test_layer_norm_of_a_vector(tmp_path):
    nodes = [_n("LayerNormalization", ["x", "g", "b"], "y", epsilon=1e-6)]
    kinds = _graph(tmp_path, nodes, {"g": _w(16), "b": _w(16)}, shape=(16,), name="ln_vec")
    assert kinds == {"LayerNorm2d"}


# ---- blocks exported by torch.onnx ------------------------------------------------------------


class ConvNeXtBlock(nn.Module):
    """torchvision's CNBlock: depthwise 7x7, NHWC LayerNorm, Linear-GELU-Linear, layer scale."""

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.fc1, self.fc2 = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.layer_scale = nn.Parameter(torch.rand(c, 1, 1) + 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.dw(x).permute(0, 2, 3, 1))
        y = self.fc2(nn.functional.gelu(self.fc1(y))).permute(0, 3, 1, 2)
        return x + self.layer_scale * y


class ShuffleUnit(nn.Module):
    """ShuffleNetV2's stride-1 unit: chunk, branch on one half, concat, channel shuffle."""

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        h = c // 2
        self.branch = nn.Sequential(
            nn.Conv2d(h, h, 1),
            nn.ReLU(),
            nn.Conv2d(h, h, 3, padding=1, groups=h),
            nn.Conv2d(h, h, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        out = torch.cat((a, self.branch(b)), dim=1)
        n, c, h, w = out.shape
        return out.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)


class MobileBlock(nn.Module):
    """MobileNetV3 / EfficientNet: depthwise conv, hardswish or SiLU, SE gate, ReLU6; a
    DenseNet-style one-input concatenation; with ``grow``, an adaptive pool growing 1x1 to
    3x3 (AlexNet's and VGG's on small inputs; torchscript cannot export it)."""

    def __init__(self, c: int = 8, act: str = "hardswish", grow: bool = False) -> None:
        super().__init__()
        self.dw = nn.Conv2d(c, c, 3, padding=1, groups=c)
        self.act = nn.Hardswish() if act == "hardswish" else nn.SiLU()
        self.gate = nn.Hardsigmoid() if act == "hardswish" else nn.Sigmoid()
        self.fc = nn.Conv2d(c, c, 1)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.grow = nn.AdaptiveAvgPool2d(3) if grow else nn.Identity()
        self.head = nn.Linear((9 if grow else 1) * c, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.dw(x))
        y = torch.cat([y * self.gate(self.fc(y.mean((2, 3), keepdim=True)))], dim=1)
        y = nn.functional.relu6(self.pool(y)).amax((2, 3), keepdim=True)
        return self.head(torch.flatten(self.grow(y), 1))


def _export(tmp_path, module: nn.Module, shape, dynamo: bool, name: str, opset: int = 17):
    torch.manual_seed(0)
    path = tmp_path / f"{name}_{'dynamo' if dynamo else 'torchscript'}.onnx"
    torch.onnx.export(
        module.eval(),
        (torch.randn(1, *shape),),
        str(path),
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "b"}, "y": {0: "b"}},
        opset_version=opset,
        dynamo=dynamo,
    )
    return path


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_convnext_block(tmp_path, dynamo):
    torch.manual_seed(0)
    path = _export(tmp_path, ConvNeXtBlock(), (8, 6, 6), dynamo, "convnext")
    kinds = _check(path, (8, 6, 6))
    assert kinds == {"Conv2d", "LayerNorm2d", "GELU", "LayerScale", "Add"}


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_shuffle_unit(tmp_path, dynamo):
    torch.manual_seed(0)
    # the dynamo exporter's own opset: converted down to 17 its Split keeps opset 18's
    # num_outputs, a file the ONNX checker and ORT reject (torch 2.13)
    path = _export(tmp_path, ShuffleUnit(), (8, 6, 6), dynamo, "shuffle", 18 if dynamo else 17)
    kinds = _check(path, (8, 6, 6))
    assert {"Slice", "ChannelShuffle", "Concat"} <= kinds


@pytest.mark.parametrize(
    ("act", "dynamo"), [("hardswish", False), ("silu", False), ("hardswish", True)]
)
def test_mobile_block(tmp_path, act, dynamo):
    torch.manual_seed(0)
    block = MobileBlock(act=act, grow=dynamo)
    kinds = _check(_export(tmp_path, block, (8, 7, 7), dynamo, f"mobile_{act}"), (8, 7, 7))
    gate = {"HardSwish", "HardSigmoid"} if act == "hardswish" else {"SiLU", "Sigmoid"}
    assert gate | {"Mul", "Clip", "MaxPool2d", "GlobalMaxPool", "Dense"} <= kinds
    assert ("Upsample" in kinds) == dynamo


def test_pool_pads_that_differ_by_axis_are_refused(tmp_path):
    nodes = [_n("MaxPool", ["x"], "y", kernel_shape=[3, 3], pads=[1, 0, 1, 0])]
    with pytest.raises(
        triptych.UnsupportedOnnx, match=r"MaxPool y: asymmetric pads \[1, 0, 1, 0\]"
    ):
        _graph(tmp_path, nodes, {}, name="pool_hw")
