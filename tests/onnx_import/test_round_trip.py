"""Every zoo model, exported from every framework (torch with both exporters), imports back
to a spec whose native build in every framework equals ORT on the file (<= 1e-5; measured
<= 3e-7), and, where the exporter kept the layer structure, to the same canonical weights
bitwise (compared by position: the ordered list of arrays).

Small sizes keep the test fast: resnet18 at (3, 16, 16) width 8, unet at (1, 8, 8) width 4;
the others at the zoo default (1, 8, 8). Exporters that fuse BatchNorm into the Conv or Dense
before it (torch dynamo and torchscript in eval mode, tf2onnx) give a spec without those
BatchNorm layers: the same function with folded weights, so only outputs are compared there.
"""

from __future__ import annotations

import numpy as np
import pytest

import triptych
from triptych.common import zoo

from .conftest import max_diff_per_framework

SMALL = {
    "resnet18": {"image_shape": (3, 16, 16), "width": 8},
    "unet": {"image_shape": (1, 8, 8), "width": 4},
}
EXPORTS = [("torch", "dynamo"), ("torch", "torchscript"), ("tensorflow", None), ("mxnet", None)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(model, exporter label) -> (original Model, {network: path}), exported on first use."""
    root = tmp_path_factory.mktemp("zoo_exports")
    cache: dict = {}

    def get(name: str, label: str):
        if (name, label) not in cache:
            fw, exporter = next((f, e) for f, e in EXPORTS if (e or f) == label)
            model = triptych.create(name, framework=fw, seed=1, **SMALL.get(name, {}))
            cache[name, label] = model, model.export_onnx(root / label, exporter=exporter)
        return cache[name, label]

    return get


def _weights_by_position(model, network: str) -> list[np.ndarray]:
    w = model.get_weights()
    return [w[k] for k in model.spec.networks[network].tensor_shapes()]


@pytest.mark.parametrize("label", ["dynamo", "torchscript", "tensorflow", "mxnet"])
@pytest.mark.parametrize("name", zoo.names())
def test_zoo_round_trip(exported, name, label, probe):
    model, paths = exported(name, label)
    for network, path in paths.items():
        spec, weights = triptych.import_onnx(path)
        assert list(spec.networks) == [network] and spec.name == model.spec.name
        original = model.spec.networks[network]
        x = probe(original.input_shape)
        diffs = max_diff_per_framework(spec, weights, path, x)
        assert max(diffs.values()) <= 1e-5, (network, diffs)
        imported = [weights[k] for k in spec.networks[network].tensor_shapes()]
        before = _weights_by_position(model, network)
        if [a.shape for a in imported] == [b.shape for b in before]:
            for a, b in zip(imported, before, strict=True):
                assert np.array_equal(a, b), network
        else:
            assert label != "mxnet", f"{name}.{network}: MXNet's exporter keeps every layer"


def test_names_are_stable_identifiers(exported):
    """torch names map to torchvision-style layer names; a second import gives the same."""
    _, paths = exported("resnet18", "torchscript")
    weights = triptych.import_onnx(paths["net"])[1]
    again = triptych.import_onnx(paths["net"])[1]
    assert list(weights) == list(again)
    assert "net.nodes_fc.weight" in weights or "net.fc.weight" in weights, list(weights)
    _, paths = exported("resnet18", "mxnet")
    _spec, weights = triptych.import_onnx(paths["net"])
    assert all(k.count(".") == 2 for k in weights)
