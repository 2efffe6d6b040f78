"""Models triptych did not write: a torchvision-layout ResNet-18 in plain torch (both torch
exporters) and a small Keras CNN through tf2onnx import, run natively in every framework
equal to ORT on the original file (<= 1e-4), pass the parity levels and fine-tune."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import triptych
from triptych.common.datasets.dataset import Dataset
from triptych.common.recipe import Optimizer, Recipe
from triptych.verify.engine import run_parity

from .conftest import FRAMEWORKS, max_diff_per_framework

WIDTH = 8  # channels of the first stage (torchvision's is 64): keeps the test fast


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """torchvision.models.resnet18's layout and names, at ``width`` base channels."""

    def __init__(self, width: int = 64, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        chans, cin = [width, 2 * width, 4 * width, 8 * width], width
        for i, c in enumerate(chans, start=1):
            stride = 1 if i == 1 else 2
            setattr(
                self, f"layer{i}", nn.Sequential(BasicBlock(cin, c, stride), BasicBlock(c, c, 1))
            )
            cin = c
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _trained_stats(model: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics (a few train-mode forwards), then eval mode."""
    torch.manual_seed(0)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 3, 64, 64))
    return model.eval()


@pytest.fixture(scope="module")
def resnet_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("foreign_resnet")
    model = _trained_stats(ResNet18(WIDTH))
    x = torch.randn(1, 3, 64, 64)
    paths = {}
    for dynamo in (True, False):
        path = root / f"resnet18_{'dynamo' if dynamo else 'torchscript'}.onnx"
        torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
                          opset_version=18, dynamo=dynamo)  # fmt: skip
        paths["dynamo" if dynamo else "torchscript"] = path
    return paths


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_foreign_resnet18(resnet_files, exporter, probe):
    spec, weights = triptych.import_onnx(resnet_files[exporter])
    net = spec.networks["net"]
    assert net.input_shape == (3, 64, 64) and net.output_shape == (10,)
    kinds = {type(layer).__name__ for layer in net.layers}
    assert {"Conv2d", "MaxPool2d", "Add", "GlobalAvgPool", "Dense"} <= kinds
    diffs = max_diff_per_framework(spec, weights, resnet_files[exporter], probe((3, 64, 64)))
    assert max(diffs.values()) <= 1e-4, diffs
    if exporter == "torchscript":
        assert any(k.startswith("net.layer1_0_conv1.") for k in weights), list(weights)[:5]


def test_foreign_resnet18_parity_and_fine_tuning(resnet_files, tmp_path):
    spec, weights = triptych.import_onnx(resnet_files["torchscript"], name="my_resnet")
    report = run_parity(spec, list(FRAMEWORKS), weights=weights, batches=(2,), train_steps=2,
                        out_dir=tmp_path, reference=True)  # fmt: skip
    assert report, "\n".join(report.failures())
    assert {c.level for c in report.checks} >= {1, 2, 3, 4}
    rng = np.random.default_rng(0)
    data = Dataset(rng.random((16, 3, 64, 64), dtype=np.float32), rng.integers(0, 10, 16))
    recipe = Recipe(kind="supervised", optimizer=Optimizer("adam", 1e-3), batch=8)
    for fw in FRAMEWORKS:
        model = triptych.create(spec, framework=fw, weights=weights)
        model.fit(data, steps=2, recipe=recipe, progress=False)
        assert not all(np.array_equal(model.get_weights()[k], weights[k]) for k in weights)


def _keras_cnn_file(path) -> None:
    import keras
    import tensorflow as tf
    import tf2onnx

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((12, 12, 3)),
        keras.layers.Conv2D(8, 3, padding="same"),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(16, 3, strides=2, padding="valid", use_bias=False),
        keras.layers.ReLU(),
        keras.layers.Flatten(),
        keras.layers.Dense(5),
    ])  # fmt: skip
    bn = model.layers[1]
    rng = np.random.default_rng(1)
    gamma, beta = rng.random(8).astype("f") + 0.5, rng.standard_normal(8).astype("f")
    bn.set_weights([gamma, beta, rng.standard_normal(8).astype("f"), gamma.copy()])
    fn = tf.function(lambda x: {"output": model(x, training=False)})
    proto, _ = tf2onnx.convert.from_function(
        fn, input_signature=[tf.TensorSpec([None, 12, 12, 3], tf.float32, name="input")],
        opset=17, inputs_as_nchw=["input:0"],
    )  # fmt: skip
    path.write_bytes(proto.SerializeToString())


def test_foreign_keras_cnn(tmp_path, probe):
    path = tmp_path / "keras_cnn.onnx"
    _keras_cnn_file(path)
    spec, weights = triptych.import_onnx(path)
    assert spec.networks["net"].input_shape == (3, 12, 12)
    diffs = max_diff_per_framework(spec, weights, path, probe((3, 12, 12)))
    assert max(diffs.values()) <= 1e-4, diffs
