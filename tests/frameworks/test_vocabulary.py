"""The registry-driven test: every layer kind of the vocabulary (`LAYER_TYPES`), in a small
network around it, in every installed backend: a converter is registered, shapes follow the
spec's inference, canonical init gives every parameter, canonical weights round-trip bit for
bit, the float64 builds (the oracles) agree to float64 rounding, and `run_parity` passes
levels 1-4 (native vs ORT after export, across frameworks, one SGD step) under the bounds
derived from float64. A new layer kind fails here until it has an example below and a
converter in every backend."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import triptych
from triptych.common import spec as S
from triptych.common.init import init_weights
from triptych.common.registry import MissingConverter
from triptych.frameworks.base import get_backend
from triptych.verify.engine import run_parity


def _around(layer: S.Layer, shape: S.Shape) -> S.Network:
    """``layer`` on an input of ``shape``, then (Flatten and) Dense(3) so training has a
    loss that reaches every parameter."""
    x = S.Input(shape)
    y = layer(x)
    if len(y.shape) == 3:
        y = S.Flatten()(y)
    return S.Network("net", inputs=x, outputs=S.Dense(3)(y))


def _merge(layer: S.Layer) -> S.Network:
    """Two convolutions of the input merged by ``layer``."""
    x = S.Input((2, 5, 5))
    a, b = S.Conv2d(3, 3, padding=1)(x), S.Conv2d(3, 1)(x)
    return S.Network("net", inputs=x, outputs=S.Dense(3)(S.Flatten()(layer([a, b]))))


IMAGE = (2, 6, 6)
#: layer kind -> a small network exercising it (the arguments users would pick)
EXAMPLES: dict[str, Callable[[], S.Network]] = {
    "dense": lambda: _around(S.Dense(5), (7,)),
    "conv2d": lambda: _around(S.Conv2d(4, 3, stride=2, padding=1), IMAGE),
    "conv_transpose2d": lambda: _around(S.ConvTranspose2d(3, 4, 2, 1), (2, 3, 3)),
    "batchnorm": lambda: _around(S.BatchNorm(), IMAGE),
    "relu": lambda: _around(S.ReLU(), IMAGE),
    "leaky_relu": lambda: _around(S.LeakyReLU(0.2), IMAGE),
    "sigmoid": lambda: _around(S.Sigmoid(), IMAGE),
    "tanh": lambda: _around(S.Tanh(), IMAGE),
    "dropout": lambda: _around(S.Dropout(0.5), IMAGE),
    "flatten": lambda: _around(S.Flatten(), IMAGE),
    "unflatten": lambda: _around(S.Unflatten((2, 3, 3)), (18,)),
    "maxpool2d": lambda: _around(S.MaxPool2d(3, 2, 1), IMAGE),
    "avgpool2d": lambda: _around(S.AvgPool2d(2), IMAGE),
    "global_avgpool": lambda: _around(S.GlobalAvgPool(), IMAGE),
    "identity": lambda: _around(S.Identity(), IMAGE),
    "upsample": lambda: _around(S.Upsample(2, "bilinear"), (2, 3, 3)),
    "add": lambda: _merge(S.Add()),
    "concat": lambda: _merge(S.Concat()),
}


def test_every_layer_kind_has_an_example():
    missing = sorted(set(S.LAYER_TYPES) - set(EXAMPLES))
    assert not missing, f"layer kinds without an example in this test: {missing}"


@pytest.mark.parametrize("kind", sorted(S.LAYER_TYPES))
def test_every_backend_has_a_converter(kind):
    cls = S.LAYER_TYPES[kind]
    missing = [fw for fw in triptych.frameworks() if cls not in get_backend(fw).layer_converters]
    assert not missing, f"layer {kind!r} has no converter in {missing}"


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_layer_in_every_backend(kind, tmp_path):
    network = EXAMPLES[kind]()
    assert any(info.layer.kind == kind for info in network.infos)
    spec = S.single(network, f"vocabulary_{kind}")
    weights = init_weights(spec, seed=3)
    expected = {
        f"net.{info.key}.{name}": shape
        for info in network.infos
        for name, shape in {**info.layer.param_shapes(info.input_shape),
                            **info.layer.buffer_shapes(info.input_shape)}.items()
    }  # fmt: skip
    assert {k: v.shape for k, v in weights.items()} == expected  # canonical init
    fws = triptych.frameworks()
    x = np.random.default_rng(0).random((2, *network.input_shape), dtype=np.float32)
    oracles = {}
    for fw in fws:
        model = triptych.Model(spec, fw, weights=weights)
        assert model.forward(x, "net").shape == (2, *network.output_shape), fw
        back = model.get_weights()
        assert all(np.array_equal(back[k], weights[k]) for k in weights), f"{fw} round trip"
        build64 = triptych.Model(spec, fw, weights=weights, dtype="float64")
        oracles[fw] = build64.forward(x.astype(np.float64), "net")
    # the oracles agree to float64 rounding: a wrong float64 build cannot widen its own bound
    first = oracles[fws[0]]
    for fw, y in oracles.items():
        assert np.abs(y - first).max() <= 1e-12 * max(np.abs(first).max(), 1.0), fw
    if len(fws) < 2:
        pytest.skip(f"levels 3-4 compare two frameworks; installed: {fws}")
    exporters = {fw: get_backend(fw).fast_exporter for fw in fws}
    report = run_parity(spec, fws, weights=weights, batches=(2,), reference=False,
                        train_steps=1, exporters=exporters, out_dir=tmp_path)  # fmt: skip
    failed = [c for c in report.checks if c.gating and not c.passed]
    assert not failed, "\n".join(str(c.comparison) for c in failed[:3])
    assert {c.level for c in report.checks} >= {1, 3, 4}


def test_a_missing_converter_is_a_refusal_naming_backend_and_layer(monkeypatch):
    fw = triptych.frameworks()[0]
    converters = get_backend(fw).layer_converters
    monkeypatch.delitem(converters.converters, S.Tanh)
    spec = S.single(_around(S.Tanh(), IMAGE), "missing_tanh")
    with pytest.raises(MissingConverter, match=rf"{fw} has no converter for layer 'tanh'"):
        triptych.Model(spec, fw)
