"""The importer on the ops issue 31 added to the vocabulary, each in a small module exported
by torch.onnx (both exporters) and in hand-built NHWC graphs as tf2onnx writes them: reflect,
edge and constant padding (and zero padding nothing takes in), reductions over channels
and over one spatial axis, dilated max pooling, rectangular (1x7, 7x1) convolutions. Each
imports, becomes the spec layers named, and runs in torch equal to ORT on the file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from onnx import helper
from torch import nn

from .test_modern_ops import _check, _export, _graph, _n, _w


class Padded(nn.Module):
    def __init__(self, mode: str, value: float = 0.0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.mode, self.value = mode, value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = (1, 2, 2, 0)  # left, right, top, bottom
        if self.mode == "constant":
            y = nn.functional.pad(x, pads, value=self.value)
        else:
            y = nn.functional.pad(x, pads, mode=self.mode)
        return torch.tanh(self.conv(y))


class Attention(nn.Module):
    """CBAM's spatial attention: channel mean and max, a 7x7 conv, a sigmoid gate."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 3, padding=1)
        self.gate = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        pooled = torch.cat([y.mean(1, keepdim=True), y.amax(1, keepdim=True)], 1)
        return y * torch.sigmoid(self.gate(pooled)) + y.sum(3, keepdim=True)


class Inception(nn.Module):
    """Inception-v3's factorised 7x7: 1x7 then 7x1, and a dilated max pool."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, (1, 7), padding=(0, 3))
        self.b = nn.Conv2d(4, 5, (7, 1), padding=(3, 0))
        self.pool = nn.MaxPool2d(3, 1, 1, dilation=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(torch.relu(self.b(self.a(x))) - 0.5)


class FromChannels(nn.Module):
    """``torch.flatten(x, 2)``: (C, H·W) rows, a Linear over the pixels of each channel."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.mix = nn.Linear(90, 6)
        self.head = nn.Linear(24, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = torch.flatten(torch.relu(self.conv(x)), 2)
        return self.head(torch.flatten(self.mix(rows), 1))


MODULES = {
    "flatten_from_channels": (FromChannels, {"Flatten", "Dense"}),
    "reflect": (lambda: Padded("reflect"), {"Pad"}),
    "edge": (lambda: Padded("replicate"), {"Pad"}),
    "constant_value": (lambda: Padded("constant", 0.5), {"Pad"}),
    "reductions": (Attention, {"ReduceMean", "ReduceMax", "ReduceSum"}),
    "inception": (Inception, {"Conv2d", "MaxPool2d"}),
}


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("case", sorted(MODULES))
def test_exported_module_imports(tmp_path, case, dynamo):
    make, kinds = MODULES[case]
    shape = (4, 9, 10) if case == "reductions" else (3, 9, 10)
    path = _export(tmp_path, make(), shape, dynamo, case)
    assert kinds <= _check(path, shape)


def test_zero_padding_nothing_takes_in_becomes_a_pad_layer(tmp_path):
    nodes = [
        _n("Pad", ["x", "pads"], "p"),
        _n("Relu", ["p"], "y"),
    ]
    pads = np.array([0, 0, 1, 2, 0, 0, 3, 0], np.int64)  # (N, C, H, W) begins, then ends
    assert "Pad" in _graph(tmp_path, nodes, {"pads": pads})


def test_nhwc_reflect_pad_and_channel_mean(tmp_path):
    """tf2onnx's form: Transpose to NHWC, Pad H and W of NHWC, mean over the last (channel)
    axis, Transpose back: the axes follow the transpose into the NCHW layers."""
    nodes = [
        _n("Conv", ["x", "w"], "c", pads=[1, 1, 1, 1]),
        _n("Transpose", ["c"], "t", perm=[0, 2, 3, 1]),
        _n("Pad", ["t", "pads"], "p", mode="reflect"),
        _n("ReduceMean", ["p"], "m", axes=[3], keepdims=1),
        _n("Transpose", ["m"], "y", perm=[0, 3, 1, 2]),
    ]
    pads = np.array([0, 2, 1, 0, 0, 0, 2, 0], np.int64)
    kinds = _graph(tmp_path, nodes, {"w": _w(5, 4, 3, 3), "pads": pads}, opset=13)
    assert {"Pad", "ReduceMean"} <= kinds


def test_unsupported_pad_mode_is_a_refusal_naming_it(tmp_path):
    import triptych

    nodes = [_n("Pad", ["x", "pads"], "y", mode="wrap")]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", 1, ["b", 4, 8, 8])],
        [helper.make_tensor_value_info("y", 1, ["b", 4, 10, 10])],
        [helper.make_tensor("pads", 7, [8], [0, 0, 1, 1, 0, 0, 1, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    path = tmp_path / "wrap.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(triptych.UnsupportedOnnx, match=r"Pad.*mode 'wrap'; allowed constant"):
        triptych.import_onnx(path)


def test_softmax_over_channels_also_of_an_nhwc_view(tmp_path):
    """Softmax over the channels, once on the NCHW value (axis 1) and once on its NHWC
    transpose (axis 3, as tf2onnx writes it): both are Softmax over the same NCHW axis."""
    nodes = [
        _n("Conv", ["x", "w"], "c", pads=[1, 1, 1, 1]),
        _n("Softmax", ["c"], "s1", axis=1),
        _n("Transpose", ["c"], "t", perm=[0, 2, 3, 1]),
        _n("Softmax", ["t"], "st", axis=3),
        _n("Transpose", ["st"], "s2", perm=[0, 3, 1, 2]),
        _n("Add", ["s1", "s2"], "y"),
    ]
    assert "Softmax" in _graph(tmp_path, nodes, {"w": _w(5, 4, 3, 3)}, opset=13)
