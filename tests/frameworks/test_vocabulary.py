"""The registry-driven test: every layer kind of the vocabulary (`LAYER_TYPES`), in a small
network around it, in every installed backend: a converter is registered, shapes follow the
spec's inference, canonical init gives every parameter, canonical weights round-trip bit for
bit, the float64 builds (the oracles) agree to float64 rounding, and `run_parity` passes
levels 1-4 (native vs ORT after export, across frameworks, one SGD step) under the bounds
derived from float64. A new layer kind fails here until it has an example below and a
converter in every backend."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pytest

import triptych
from triptych.common import spec as S
from triptych.common.init import init_weights
from triptych.common.registry import MissingConverter
from triptych.frameworks.base import get_backend
from triptych.verify.engine import run_parity
from triptych.verify.inputs import probe_for


def _frameworks() -> list[str]:
    """Every installed framework; ``TRIPTYCH_TEST_FRAMEWORKS=torch,mxnet`` narrows the set
    (while one backend's converters are being written)."""
    only = os.environ.get("TRIPTYCH_TEST_FRAMEWORKS")
    return [f for f in triptych.frameworks() if not only or f in only.split(",")]


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


def _after_conv(layer: S.Layer, channels: int = 4) -> S.Network:
    """``layer`` on a convolution's output (values of both signs), then Dense(3)."""
    x = S.Input((2, 6, 6))
    y = layer(S.Conv2d(channels, 3, padding=1)(x))
    if len(y.shape) == 3:
        y = S.Flatten()(y)
    return S.Network("net", inputs=x, outputs=S.Dense(3)(y))


def _gate(layer: S.Layer) -> S.Network:
    """Squeeze-and-excitation: ``layer([a, sigmoid(conv(pool(a)))])``, broadcasting the
    (C, 1, 1) gate over (C, H, W)."""
    x = S.Input((2, 6, 6))
    a = S.Conv2d(4, 3, padding=1)(x)
    gate = S.Sigmoid()(S.Conv2d(4, 1)(S.GlobalAvgPool(keepdims=True)(a)))
    return S.Network("net", inputs=x, outputs=S.Dense(3)(S.Flatten()(layer([a, gate]))))


def _residual(layer: S.Layer) -> S.Network:
    """``a + layer(conv(a))``: a residual branch (where stochastic depth sits)."""
    x = S.Input((2, 5, 5))
    a = S.Conv2d(3, 3, padding=1)(x)
    y = S.Add()([a, layer(S.Conv2d(3, 3, padding=1)(a))])
    return S.Network("net", inputs=x, outputs=S.Dense(3)(S.Flatten()(y)))


def _tokens(*layers: S.Layer) -> S.Network:
    """``layers`` on (9, 8) tokens (a 2x2-patch convolution's pixels), then Flatten and
    Dense(3)."""
    x = S.Input((2, 6, 6))
    y = S.Tokens()(S.Conv2d(8, 2, stride=2)(x))
    for layer in layers:
        y = layer(y)
    if len(y.shape) > 1:
        y = S.Flatten()(y)
    return S.Network("net", inputs=x, outputs=S.Dense(3)(y))


def _untokens(upsample: bool = False) -> S.Network:
    """A masked autoencoder's decoder end: (9, 8) patch tokens, a Dense to 6 features (both
    signs per token), back to a (6, 3, 3) image, then a convolution (or a ConvTranspose2d
    with kernel = stride = the patch back to 6x6 pixels), Flatten and Dense(3)."""
    x = S.Input((2, 6, 6))
    t = S.Dense(6)(S.Tokens()(S.Conv2d(8, 2, stride=2)(x)))
    y = S.Untokens(3, 3)(t)
    patch = S.ConvTranspose2d(2, kernel=2, stride=2, padding=0)
    y = patch(y) if upsample else S.Conv2d(3, 3, padding=1)(y)
    return S.Network("net", inputs=x, outputs=S.Dense(3)(S.Flatten()(y)))


def _pre_norm_block(causal: bool = False, bias: bool = True) -> S.Network:
    """A pre-norm transformer encoder block on class token + tokens + positions."""
    x = S.Input((2, 6, 6))
    t = S.Tokens()(S.Conv2d(8, 2, stride=2)(x))
    t = S.PositionEmbedding()(S.ClassToken()(t))
    t = S.Add()([t, S.MultiHeadAttention(2, bias=bias, causal=causal)(S.LayerNorm()(t))])
    h = S.Dense(8)(S.GELU()(S.Dense(16)(S.LayerNorm()(t))))
    t = S.LayerNorm()(S.Add()([t, h]))
    head = S.Add()([S.Flatten()(S.Slice(0, 1, axis=1)(t)), S.ReduceMean((0,), keepdims=False)(t)])
    return S.Network("net", inputs=x, outputs=S.Dense(3)(head))


def _text(*layers: S.Layer, length: int = 7, vocab: int = 11) -> S.Network:
    """int64 token ids (``length``) through an Embedding to 8 features, then ``layers``, the
    mean over tokens and Dense(3)."""
    x = S.Input((length,), dtype="int64")
    y = S.Embedding(vocab, 8)(x)
    for layer in layers:
        y = layer(y)
    return S.Network("net", inputs=x, outputs=S.Dense(3)(S.ReduceMean((0,), keepdims=False)(y)))


def _padded(bias: bool = True) -> S.Network:
    """Token ids, their embedding and padding mask (id 0 is padding, vocabulary 4 so that
    the probes have padding), masked self-attention (not causal: a causal row whose own and
    earlier tokens are all padding has no key, NaN in PyTorch)."""
    x = S.Input((7,), dtype="int64")
    t = S.PositionEmbedding()(S.Embedding(4, 8)(x))
    y = S.MaskedMultiHeadAttention(2, bias=bias)([t, S.PaddingMask(0)(x)])
    return S.Network("net", inputs=x, outputs=S.Dense(3)(S.ReduceMean((0,), keepdims=False)(y)))


def _one_concat() -> S.Network:
    x = S.Input((2, 5, 5))
    y = S.Concat()([S.Conv2d(3, 3, padding=1)(x)])
    return S.Network("net", inputs=x, outputs=S.Dense(3)(S.Flatten()(y)))


IMAGE = (2, 6, 6)
#: "kind" or "kind:variant" -> a small network exercising it (arguments users would pick)
EXAMPLES: dict[str, Callable[[], S.Network]] = {
    "dense": lambda: _around(S.Dense(5), (7,)),
    "conv2d": lambda: _around(S.Conv2d(4, 3, stride=2, padding=1), IMAGE),
    "conv2d:depthwise": lambda: _after_conv(S.Conv2d(4, 3, padding=1, groups=4, bias=False)),
    "conv2d:grouped": lambda: _after_conv(S.Conv2d(6, 1, groups=2)),
    "conv2d:dilated_same": lambda: _around(S.Conv2d(3, 3, padding="same", dilation=2), IMAGE),
    "conv2d:asymmetric": lambda: _around(S.Conv2d(3, 3, stride=2, padding=(0, 0, 1, 1)), IMAGE),
    "conv2d:same_strided": lambda: _around(S.Conv2d(3, 3, stride=2, padding="same"), IMAGE),
    "conv_transpose2d": lambda: _around(S.ConvTranspose2d(3, 4, 2, 1), (2, 3, 3)),
    "conv_transpose2d:grouped": lambda: _after_conv(
        S.ConvTranspose2d(4, 3, 2, 1, groups=2, output_padding=1)
    ),
    "batchnorm": lambda: _around(S.BatchNorm(), IMAGE),
    "relu": lambda: _around(S.ReLU(), IMAGE),
    "leaky_relu": lambda: _around(S.LeakyReLU(0.2), IMAGE),
    "sigmoid": lambda: _around(S.Sigmoid(), IMAGE),
    "tanh": lambda: _around(S.Tanh(), IMAGE),
    "clip": lambda: _after_conv(S.Clip(-0.3, 0.4)),
    "clip:relu6": lambda: _after_conv(S.ReLU6()),
    "hard_sigmoid": lambda: _after_conv(S.HardSigmoid()),
    "hard_sigmoid:onnx_default": lambda: _after_conv(S.HardSigmoid(alpha=0.2)),
    "hard_swish": lambda: _after_conv(S.HardSwish()),
    "silu": lambda: _after_conv(S.SiLU()),
    "gelu": lambda: _after_conv(S.GELU()),
    "gelu:tanh": lambda: _after_conv(S.GELU("tanh")),
    "elu": lambda: _after_conv(S.ELU(0.7)),
    "selu": lambda: _after_conv(S.SELU()),
    "softplus": lambda: _after_conv(S.Softplus()),
    "mish": lambda: _after_conv(S.Mish()),
    "prelu": lambda: _after_conv(S.PReLU()),
    "prelu:shared": lambda: _after_conv(S.PReLU(shared=True)),
    "dropout": lambda: _around(S.Dropout(0.5), IMAGE),
    "flatten": lambda: _around(S.Flatten(), IMAGE),
    "flatten:from_channels": lambda: _after_conv(S.Flatten(start=2)),
    "flatten:from_channels_input": lambda: _around(S.Flatten(start=2), IMAGE),
    "flatten:from_channels_dense": lambda: S.Network(
        "net",
        IMAGE,
        [S.Conv2d(4, 3, 1, 1), S.Flatten(start=2), S.ReLU(), S.Dense(5), S.Flatten(), S.Dense(3)],
    ),
    "unflatten": lambda: _around(S.Unflatten((2, 3, 3)), (18,)),
    "maxpool2d": lambda: _around(S.MaxPool2d(3, 2, 1), IMAGE),
    "maxpool2d:ceil": lambda: _after_conv(S.MaxPool2d(3, 2, ceil_mode=True)),
    "avgpool2d": lambda: _around(S.AvgPool2d(2), IMAGE),
    "avgpool2d:exclude_pad_ceil": lambda: _after_conv(
        S.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)
    ),
    "global_avgpool": lambda: _around(S.GlobalAvgPool(), IMAGE),
    "global_avgpool:keepdims": lambda: _after_conv(S.GlobalAvgPool(keepdims=True)),
    "global_maxpool": lambda: _after_conv(S.GlobalMaxPool()),
    "adaptive_avgpool2d": lambda: _after_conv(S.AdaptiveAvgPool2d(2)),
    "adaptive_avgpool2d:uneven": lambda: _after_conv(S.AdaptiveAvgPool2d(4)),
    "adaptive_avgpool2d:grow": lambda: _after_conv(S.AdaptiveAvgPool2d(9)),
    "adaptive_avgpool2d:rect": lambda: _after_conv(S.AdaptiveAvgPool2d((3, 2))),
    "adaptive_avgpool2d:rect_uneven": lambda: _after_conv(S.AdaptiveAvgPool2d((5, 3))),
    "identity": lambda: _around(S.Identity(), IMAGE),
    "upsample": lambda: _around(S.Upsample(2, "bilinear"), (2, 3, 3)),
    "add": lambda: _merge(S.Add()),
    "add:broadcast": lambda: _gate(S.Add()),
    "mul": lambda: _gate(S.Mul()),
    "sub": lambda: _merge(S.Sub()),
    "div": lambda: _gate(S.Div()),
    "maximum": lambda: _merge(S.Maximum()),
    "minimum": lambda: _gate(S.Minimum()),
    "concat": lambda: _merge(S.Concat()),
    "concat:one_input": _one_concat,
    "layer_norm2d": lambda: _after_conv(S.LayerNorm2d()),
    "layer_norm2d:flat": lambda: _around(S.LayerNorm2d(1e-5), (7,)),
    "layer_scale": lambda: _after_conv(S.LayerScale(0.5)),
    "channel_affine": lambda: _around(S.ChannelAffine((0.5, 2.0), (0.1, -0.2)), IMAGE),
    "channel_shuffle": lambda: _after_conv(S.ChannelShuffle(2)),
    "slice": lambda: _after_conv(S.Slice(1, 3)),
    "conv2d:rectangular": lambda: _after_conv(S.Conv2d(3, (1, 3), padding=(0, 1, 0, 1))),
    "conv2d:rectangular_same": lambda: _around(
        S.Conv2d(3, (3, 1), stride=2, padding="same"), IMAGE
    ),
    "maxpool2d:dilated": lambda: _after_conv(S.MaxPool2d(2, 1, dilation=2)),
    "maxpool2d:dilated_strided_padded": lambda: _after_conv(S.MaxPool2d(3, 2, 1, dilation=2)),
    "pad": lambda: _after_conv(S.Pad((1, 0, 2, 1))),
    "pad:value": lambda: _after_conv(S.Pad(1, value=-0.5)),
    "pad:reflect": lambda: _after_conv(S.Pad((2, 1, 0, 3), "reflect")),
    "pad:edge": lambda: _after_conv(S.Pad((0, 2, 1, 1), "edge")),
    "reduce_mean": lambda: _after_conv(S.ReduceMean((0,))),
    "reduce_mean:spatial": lambda: _after_conv(S.ReduceMean((1, 2), keepdims=False)),
    "reduce_sum": lambda: _after_conv(S.ReduceSum((-1,))),
    "reduce_sum:all": lambda: _after_conv(S.ReduceSum()),
    "reduce_max": lambda: _after_conv(S.ReduceMax((0,))),
    "reduce_max:spatial_kept": lambda: _after_conv(S.ReduceMax((1, 2))),
    "stochastic_depth": lambda: _residual(S.StochasticDepth(0.5)),
    "tokens": lambda: _tokens(),
    "untokens": _untokens,
    "untokens:mae_decoder": lambda: _untokens(upsample=True),
    "class_token": lambda: _tokens(S.ClassToken()),
    "position_embedding": lambda: _tokens(S.PositionEmbedding()),
    "multi_head_attention": lambda: _tokens(S.MultiHeadAttention(2)),
    "multi_head_attention:causal_no_bias": lambda: _tokens(
        S.MultiHeadAttention(4, bias=False, causal=True)
    ),
    "multi_head_attention:pre_norm_block": _pre_norm_block,
    "multi_head_attention:dropout": lambda: _tokens(S.MultiHeadAttention(2, dropout=0.3)),
    "layer_norm": lambda: _tokens(S.LayerNorm()),
    "embedding": lambda: _text(),
    "embedding:encoder_block": lambda: _text(
        S.PositionEmbedding(), S.MultiHeadAttention(2), S.RMSNorm(), S.GELU()
    ),
    "padding_mask": _padded,
    "masked_multi_head_attention": _padded,
    "masked_multi_head_attention:no_bias": lambda: _padded(bias=False),
    "rms_norm": lambda: _tokens(S.RMSNorm()),
    "rms_norm:flat": lambda: _around(S.RMSNorm(1e-5), (7,)),
    "layer_norm:flat": lambda: _around(S.LayerNorm(1e-6), (7,)),
    "softmax": lambda: _tokens(S.Softmax()),
    "softmax:tokens_axis": lambda: _tokens(S.Softmax(0)),
    "softmax:image_channels": lambda: _after_conv(S.Softmax(0)),
    "dense:tokens": lambda: _tokens(S.Dense(5), S.GELU("tanh"), S.Dropout(0.3)),
    "reduce_mean:tokens": lambda: _tokens(S.ReduceMean((0,), keepdims=False)),
    "slice:tokens": lambda: _tokens(S.Slice(2, 5, axis=1)),
}


def test_every_layer_kind_has_an_example():
    missing = sorted(set(S.LAYER_TYPES) - {key.split(":")[0] for key in EXAMPLES})
    assert not missing, f"layer kinds without an example in this test: {missing}"


@pytest.mark.parametrize("kind", sorted(S.LAYER_TYPES))
def test_every_backend_has_a_converter(kind):
    cls = S.LAYER_TYPES[kind]
    missing = [fw for fw in _frameworks() if cls not in get_backend(fw).layer_converters]
    assert not missing, f"layer {kind!r} has no converter in {missing}"


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_layer_in_every_backend(kind, tmp_path):
    network = EXAMPLES[kind]()
    assert any(info.layer.kind == kind.split(":")[0] for info in network.infos)
    spec = S.single(network, f"vocabulary_{kind.replace(':', '_')}")
    weights = init_weights(spec, seed=3)
    expected = {
        f"net.{info.key}.{name}": shape
        for info in network.infos
        for name, shape in {**info.layer.param_shapes(info.input_shape),
                            **info.layer.buffer_shapes(info.input_shape)}.items()
    }  # fmt: skip
    assert {k: v.shape for k, v in weights.items()} == expected  # canonical init
    fws = _frameworks()
    x = probe_for(network, 2, 0, kind)
    oracles = {}
    for fw in fws:
        model = triptych.Model(spec, fw, weights=weights)
        assert model.forward(x, "net").shape == (2, *network.output_shape), fw
        back = model.get_weights()
        assert all(np.array_equal(back[k], weights[k]) for k in weights), f"{fw} round trip"
        build64 = triptych.Model(spec, fw, weights=weights, dtype="float64")
        oracles[fw] = build64.forward(x if x.dtype == np.int64 else x.astype(np.float64), "net")
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
