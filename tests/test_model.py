import numpy as np
import pytest

import triptych
from triptych.common import spec as S
from triptych.frameworks import base


def test_frameworks_and_models_are_listed():
    assert set(triptych.frameworks()) <= set(base.FRAMEWORKS)
    assert {"gan", "conv_autoencoder", "classifier"} <= set(triptych.models())


def test_unknown_framework_or_model_lists_valid_names():
    with pytest.raises(
        ValueError,
        match=r"unknown framework 'paddle'; valid: torch \(pt/pytorch\)"
        r", tensorflow \(tf/keras\), mxnet \(mx/gluon\)",
    ):
        triptych.create("gan", framework="paddle")
    with pytest.raises(ValueError, match="unknown model 'resnet'; valid: .*gan.*classifier"):
        triptych.create("resnet", framework="torch")


@pytest.mark.parametrize(
    "alias, name",
    [
        ("PT", "torch"),
        ("pytorch", "torch"),
        ("tf", "tensorflow"),
        ("keras", "tensorflow"),
        ("mx", "mxnet"),
        ("gluon", "mxnet"),
    ],
)
def test_aliases_resolve(alias, name):
    assert base.resolve(alias) == name


def test_missing_framework_names_the_extra(monkeypatch):
    fake = base.FrameworkInfo(
        "torch", ("pt",), "no_such_module_for_triptych", "torch", "PyTorch", "no.such.package"
    )
    monkeypatch.setitem(base.FRAMEWORKS, "torch", fake)
    monkeypatch.setattr(base, "_BACKENDS", {})
    with pytest.raises(base.FrameworkUnavailable, match=r"pip install 'triptych\[torch\]'"):
        triptych.create("gan", framework="pt")
    assert "torch" not in triptych.frameworks()


class _EntryPoint:
    """Stands in for an installed package's ``triptych.frameworks`` entry point."""

    def __init__(self, info):
        self.info = info

    def load(self):
        return self.info


def test_a_backend_registers_through_the_entry_point_group(monkeypatch, framework):
    """A third-party package adds a backend without editing triptych: its FrameworkInfo
    names a package with the five modules; the one generic adapter does the rest. Here the
    package is an installed backend's own, registered again under a new name."""
    plugin = base.FrameworkInfo(
        "plugin", ("plug",), framework, framework, "Plugin", f"triptych.frameworks.{framework}"
    )
    monkeypatch.setattr(base, "entry_points", lambda group: [_EntryPoint(plugin)])
    monkeypatch.setattr(base, "FRAMEWORKS", base._discover())
    assert list(base.FRAMEWORKS)[-1] == "plugin" and base.resolve("plug") == "plugin"
    model = triptych.create("linear_autoencoder", framework="plug")
    reference = triptych.create("linear_autoencoder", framework=framework)
    assert model.framework == "plugin" and triptych.compare(model, reference, atol=1e-6, rtol=0)
    assert isinstance(model.backend, base.PackageBackend)


def test_wrong_input_shape_names_expected_and_received(framework):
    m = triptych.create("conv_autoencoder", framework=framework)
    with pytest.raises(
        ValueError,
        match=r"'encoder' expects input of shape \(N, 1, 8, 8\) "
        r"with any batch N; got \(2, 8, 8\)",
    ):
        m.predict(np.zeros((2, 8, 8), np.float32))
    with pytest.raises(ValueError, match="has no network 'critic'; networks: encoder, decoder"):
        m.predict(np.zeros((2, 1, 8, 8)), network="critic")


def test_predict_runs_the_main_chain_and_named_networks(framework):
    m = triptych.create("gan", framework=framework, seed=1)
    z = np.random.default_rng(0).standard_normal((5, 32)).astype(np.float32)
    img = m.predict(z)
    assert img.shape == (5, 1, 8, 8) and np.all(np.abs(img) <= 1)
    logits = m.predict(img, network="discriminator")
    assert logits.shape == (5, 1)
    np.testing.assert_allclose(m.predict(z, batch_size=2), img, atol=1e-6)


def test_user_spec_save_and_load_in_another_framework(tmp_path, framework_pair):
    encoder = S.Network(
        "encoder",
        (1, 8, 8),
        [
            S.Conv2d(16, kernel=3, stride=2, padding=1),
            S.BatchNorm(),
            S.ReLU(),
            S.Flatten(),
            S.Dense(8),
        ],
    )
    decoder = S.Network(
        "decoder",
        (8,),
        [
            S.Dense(16 * 4 * 4),
            S.ReLU(),
            S.Unflatten((16, 4, 4)),
            S.ConvTranspose2d(1, kernel=4, stride=2, padding=1),
            S.Sigmoid(),
        ],
    )
    spec = S.ModelSpec(
        "my_ae", {"encoder": encoder, "decoder": decoder}, main=["encoder", "decoder"]
    )
    a = triptych.create(spec, framework=framework_pair[0], seed=4)
    path = a.save(tmp_path / "my_ae.safetensors")
    b = triptych.load(path, framework=framework_pair[1])
    assert b.spec.hash == spec.hash and b.framework == framework_pair[1]
    result = triptych.compare(b, a, atol=1e-5, rtol=1e-4, weights=True)
    assert result, str(result)
    assert len(result.outputs) == 2 + len(spec.tensor_shapes())


def test_compare_reports_numbers_and_fails_on_nothing():
    a = {"y": np.array([1.0, 2.0, 3.0], np.float32)}
    b = {"y": np.array([1.0, 2.0, 3.1], np.float32)}
    r = triptych.compare(a, b, atol=1e-5, rtol=1e-4)
    assert not r
    o = r.outputs[0]
    assert o.mismatches == 1 and o.first_mismatches == [(2,)]
    assert abs(o.max_abs - 0.1) < 1e-6 and abs(o.min_rtol - (0.1 - 1e-5) / 3.1) < 1e-6
    assert "passes with atol >= 0.1" in r.failures()[0]
    assert not triptych.compare({}, {})
    shape = triptych.compare({"y": np.zeros(3)}, {"y": np.zeros(4), "z": np.zeros(1)})
    assert shape.failures() == ["missing in first: z", "y: shape (3,) != (4,)"]
