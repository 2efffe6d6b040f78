"""Portable exports: every zoo model's ONNX from every framework (and both torch exporters)
carries a shape on every value, has no needless ``Reshape(allowzero=1)``, and loads in an
independent consumer, onnx2torch, whose module matches ONNX Runtime to 1e-5 of the
output's scale."""

import numpy as np
import onnx
import pytest

import triptych
from triptych.common import spec as S
from triptych.common import zoo
from triptych.export.postprocess import unshaped_values
from triptych.verify.inputs import probe_batch
from triptych.verify.runners import OrtRunner


def _onnx2torch():
    """onnx2torch imports torchvision for its NMS/RoiAlign converters. PyPI's torchvision
    wheel fails at import beside the CPU torch this project pins (``torchvision::nms`` is not
    registered); `load_torchvision` registers the op's schema first, so the real torchvision
    loads (a stand-in module here once hid it from every later test in the same worker)."""
    pytest.importorskip("torch", reason="torch not installed (pip install 'triptych[torch]')")
    from triptych.verify.import_survey import load_torchvision

    load_torchvision()
    return pytest.importorskip("onnx2torch", reason="onnx2torch not installed (dev extra)")


#: onnx2torch 1.5.15 converts Resize and ReduceMean only in their opset-13 forms (opset 18
#: moved ReduceMean's axes to an input, and tf2onnx writes Keras' LayerNormalization with
#: ReduceMean): models with an Upsample or a LayerNorm are exported at opset 17 for it.
OLD_FORM_OPSET = 17


def _opset(spec) -> int:
    old = (S.Upsample, S.LayerNorm)
    needs_old = any(isinstance(i.layer, old) for n in spec.networks.values() for i in n.infos)
    return OLD_FORM_OPSET if needs_old else 18


CASES = [(fw, None) for fw in ("torch", "tensorflow", "mxnet")] + [("torch", "torchscript")]


@pytest.mark.parametrize("name", zoo.names())
@pytest.mark.parametrize("framework, exporter", CASES, ids=["torch-dynamo", "tf", "mx", "ts"])
def test_every_export_loads_in_onnx2torch(name, framework, exporter, tmp_path):
    if framework not in triptych.frameworks():
        pytest.skip(reason=f"{framework} is not installed")
    onnx2torch = _onnx2torch()
    import torch

    model = triptych.create(name, framework=framework, seed=1)
    paths = model.export_onnx(tmp_path, exporter=exporter, opset=_opset(model.spec))
    for net, path in paths.items():
        proto = onnx.load(path)
        assert not unshaped_values(proto), (net, unshaped_values(proto)[:5])
        for node in proto.graph.node:
            if node.op_type == "Reshape":
                assert all(a.i == 0 for a in node.attribute if a.name == "allowzero"), net
        module = onnx2torch.convert(proto).eval()
        x = probe_batch(model.spec.networks[net].input_shape, 5, 0, net)
        with torch.no_grad():
            y = module(torch.from_numpy(x)).numpy()
        want = OrtRunner(path, net).run(x)
        atol = 1e-5 * max(1.0, float(np.abs(want).max()))  # rounding grows with the scale
        np.testing.assert_allclose(y, want, rtol=0, atol=atol)
