"""Every zoo model and the foundation's deep test networks, exported from every framework:
checked files with metadata that ORT and the reference evaluator run like the native build."""

import numpy as np
import onnx
import pytest

import triptych
from triptych.common import spec as S
from triptych.common import zoo
from triptych.export.onnx_export import load_checked, metadata
from triptych.export.ort import make_session
from triptych.verify.inputs import probe_batch
from triptych.verify.runners import OrtRunner, ReferenceRunner

META_KEYS = {
    "framework",
    "model",
    "network",
    "spec_hash",
    "exporter",
    "triptych_version",
    "opset",
    "input",
    "output",
}
DEEP = {
    "conv_bn_lrelu_pool_dense": S.Network(
        "net",
        (1, 12, 12),
        [
            S.Conv2d(8, 3, 1, 1),
            S.BatchNorm(),
            S.LeakyReLU(0.2),
            S.MaxPool2d(2),
            S.Flatten(),
            S.Dense(10),
        ],
    ),
    "dense_unflatten_convT": S.Network(
        "net",
        (16,),
        [
            S.Dense(72),
            S.BatchNorm(),
            S.ReLU(),
            S.Unflatten((8, 3, 3)),
            S.ConvTranspose2d(4, 4, 2, 1),
            S.BatchNorm(),
            S.ReLU(),
            S.ConvTranspose2d(2, 4, 2, 1),
            S.Tanh(),
        ],
    ),
}
SPECS = {
    **{name: zoo.create_spec(name) for name in zoo.names()},
    **{name: S.single(net, name) for name, net in DEEP.items()},
}


def _exporter(framework):
    # torchscript keeps the matrix fast (0.05 s vs ~3 s); dynamo has its own test below
    return "torchscript" if framework == "torch" else None


@pytest.mark.parametrize("name", list(SPECS))
def test_export_runs_in_ort_and_reference_like_native(name, framework, tmp_path):
    spec = SPECS[name]
    model = triptych.create(spec, framework=framework, seed=3)
    paths = model.export_onnx(tmp_path, exporter=_exporter(framework))
    assert set(paths) == set(spec.networks)
    for net, path in paths.items():
        proto = load_checked(path)
        inits = {i.name for i in proto.graph.initializer}
        assert not inits & {i.name for i in proto.graph.input}
        meta = metadata(proto)
        assert set(meta) >= META_KEYS
        assert (meta["framework"], meta["network"], meta["spec_hash"]) == (
            framework,
            net,
            spec.hash,
        )
        dims = proto.graph.input[0].type.tensor_type.shape.dim
        assert dims[0].dim_param == "batch"
        assert [d.dim_value for d in dims[1:]] == list(spec.networks[net].input_shape)
        sess = make_session(path, provider="cpu")
        assert sess.get_providers() == ["CPUExecutionProvider"]
        assert sess.get_inputs()[0].name == meta["input"]
        ort_runner, reference = OrtRunner(path, net, provider="cpu"), ReferenceRunner(path, net)
        # an odd batch checks the dynamic batch axis; 37 rows of resnet18 or the U-Net in
        # onnx's pure-numpy reference evaluator cost ~3 s a framework, 5 rows check the same
        odd = 5 if name in ("resnet18", "unet", "mobilenet_v2") else 37
        for batch in (1, odd):
            x = probe_batch(spec.networks[net].input_shape, batch, 1, net)
            y_ort = ort_runner.run(x)
            y_native = model.forward(x, net)
            assert y_ort.shape == (batch, *spec.networks[net].output_shape)
            atol = 1e-5 * max(1.0, float(np.abs(y_native).max()))  # rounding grows with scale
            np.testing.assert_allclose(y_ort, y_native, rtol=0, atol=atol)
            np.testing.assert_allclose(reference.run(x), y_ort, rtol=0, atol=atol)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files


@pytest.mark.parametrize("name", ["gan", "conv_autoencoder"])
def test_torch_dynamo_exporter(name, tmp_path):
    pytest.importorskip("torch", reason="torch not installed (pip install 'triptych[torch]')")
    model = triptych.create(name, framework="torch")
    for net, path in model.export_onnx(tmp_path).items():
        meta = metadata(load_checked(path))
        assert "dynamo" in meta["exporter"]
        x = probe_batch(model.spec.networks[net].input_shape, 37, 0, net)
        y = OrtRunner(path, net, provider="cpu").run(x)
        y_native = model.forward(x, net)
        atol = 1e-5 * max(1.0, float(np.abs(y_native).max()))
        np.testing.assert_allclose(y, y_native, rtol=0, atol=atol)


def test_opset_conversion_and_canonical_names(framework, tmp_path):
    model = triptych.create("gan", framework=framework)
    paths = model.export_onnx(tmp_path, opset=17, exporter=_exporter(framework))
    gen, disc = load_checked(paths["generator"]), load_checked(paths["discriminator"])
    assert [o.version for o in gen.opset_import if o.domain in ("", "ai.onnx")] == [17]
    assert gen.ir_version == onnx.helper.find_min_ir_version_for(list(gen.opset_import))
    assert (gen.graph.input[0].name, gen.graph.output[0].name) == ("z", "y")
    assert (disc.graph.input[0].name, disc.graph.output[0].name) == ("x", "logits")


def test_ort_validates_inputs_before_running(tmp_path):
    model = triptych.create("conv_autoencoder", framework=triptych.frameworks()[0])
    path = model.export_onnx(tmp_path, networks=["encoder"], exporter=_exporter(model.framework))[
        "encoder"
    ]
    for runner in (OrtRunner(path, "encoder", provider="cpu"), ReferenceRunner(path, "encoder")):
        with pytest.raises(
            ValueError,
            match=r"input 'x' expects shape \(batch, 1, 8, 8\), got "
            r"\(2, 1, 9, 9\)",
        ):
            runner.run(np.zeros((2, 1, 9, 9), np.float32))
        with pytest.raises(ValueError, match="input 'x' is float32, got float64"):
            runner.run(np.zeros((2, 1, 8, 8)))
    assert runner.id.kind == "reference" and runner.id.file == str(path)


def test_unknown_network_or_exporter_writes_nothing(tmp_path):
    model = triptych.create("gan", framework=triptych.frameworks()[0])
    with pytest.raises(ValueError, match="no network 'critic'; networks: generator, "):
        model.export_onnx(tmp_path / "out", networks=["critic"])
    with pytest.raises(ValueError, match="unknown .* exporter 'bogus'"):
        model.export_onnx(tmp_path / "out", exporter="bogus")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
