"""Attention imports: the spec's token layers exported by torch.onnx (dynamo and
TorchScript), and torchvision's own VisionTransformer (random weights, dynamo), import
with each attention region fused into one MultiHeadAttention (weights read by evaluating
the region in float64, `triptych.onnx_import.attention`), and the imported spec's build in
every framework the importer tests use equals ORT on the file within 1e-5 of the output's
scale. A region that is not attention in PyTorch's form is refused node by node."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import triptych
from triptych.common import spec as S

from .conftest import max_diff_per_framework

TOL = 1e-5


def _block(causal: bool = False, bias: bool = True, pre_norm: bool = True) -> S.Network:
    """Patch tokens, class token, positions, one encoder block (pre- or post-norm), the
    class token and the token mean as the head's input."""
    x = S.Input((2, 6, 6))
    t = S.Tokens()(S.Conv2d(8, 2, stride=2)(x))
    t = S.PositionEmbedding()(S.ClassToken()(t))
    attention = S.MultiHeadAttention(2, bias=bias, causal=causal)
    if pre_norm:
        t = S.Add()([t, attention(S.LayerNorm()(t))])
    else:
        t = S.LayerNorm()(S.Add()([t, attention(t)]))
    h = S.Dense(8)(S.GELU()(S.Dense(16)(S.LayerNorm()(t))))
    t = S.LayerNorm()(S.Add()([t, h]))
    head = S.Add()([S.Flatten()(S.Slice(0, 1, axis=1)(t)), S.ReduceMean((0,), keepdims=False)(t)])
    return S.Network("net", inputs=x, outputs=S.Dense(3)(head))


CASES = {
    "pre_norm": _block,
    "post_norm": lambda: _block(pre_norm=False),
    "causal_no_bias": lambda: _block(causal=True, bias=False),
}


def _kinds(spec: S.ModelSpec) -> set[str]:
    return {type(layer).__name__ for net in spec.networks.values() for layer in net.layers}


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_spec_attention_round_trips(tmp_path, case, exporter, probe):
    spec = S.single(CASES[case](), case)
    model = triptych.create(spec, framework="torch", seed=1)
    path = next(iter(model.export_onnx(tmp_path, exporter=exporter).values()))
    imported, weights = triptych.import_onnx(path)
    assert "MultiHeadAttention" in _kinds(imported)
    causal = [
        la.causal for la in imported.networks["net"].layers if isinstance(la, S.MultiHeadAttention)
    ]
    assert causal == [case == "causal_no_bias"]
    diffs = max_diff_per_framework(imported, weights, path, probe(spec.input_shape))
    assert max(diffs.values()) <= TOL, diffs


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_torchvision_vision_transformer_imports(tmp_path, probe, exporter):
    """TorchScript writes torchvision's attention in PyTorch's (L, N, C) layout with its
    reshape targets computed from Shape ops: folded at import from the whole static shapes
    of those values (the batch in the middle)."""
    from triptych.verify.import_survey import load_torchvision

    load_torchvision()
    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    vit = VisionTransformer(image_size=28, patch_size=7, num_layers=2, num_heads=4,
                            hidden_dim=32, mlp_dim=64, num_classes=10).eval()  # fmt: skip
    with torch.no_grad():  # torchvision starts these at zero: the outputs would be all 0
        vit.class_token.normal_()
        vit.heads.head.weight.normal_(std=0.1)
        vit.heads.head.bias.normal_(std=0.1)
    path = tmp_path / "vit.onnx"
    torch.onnx.export(vit, (torch.randn(2, 3, 28, 28),), str(path), input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "b"}, "y": {0: "b"}},
                      opset_version=17, dynamo=exporter == "dynamo")  # fmt: skip
    spec, weights = triptych.import_onnx(path)
    kinds = [type(layer).__name__ for layer in spec.networks["net"].layers]
    assert kinds.count("MultiHeadAttention") == 2
    assert {"Tokens", "ClassToken", "PositionEmbedding", "LayerNorm", "GELU"} <= set(kinds)
    x = probe((3, 28, 28))
    assert np.abs(vit(torch.from_numpy(x)).detach().numpy()).max() > 0.1  # not trivially 0
    diffs = max_diff_per_framework(spec, weights, path, x)
    assert max(diffs.values()) <= TOL, diffs


@pytest.mark.parametrize("framework", triptych.frameworks())
def test_vit_exported_by_every_backend_imports(tmp_path, framework, probe):
    """The zoo's ViT (one block, 8x8 digits) exported by each backend's own exporter: their
    attention (SDPA, Keras' dot_product_attention, MXNet's batch_dot, Chainer's matmul) and
    layer norms (one op, or written out in elementary ops) fuse back into the layers."""
    from triptych.common.zoo_vit import vit_tiny

    spec = vit_tiny((1, 8, 8), width=16, depth=1, heads=2, mlp=32)
    model = triptych.create(spec, framework=framework, seed=1)
    path = next(iter(model.export_onnx(tmp_path).values()))
    imported, weights = triptych.import_onnx(path)
    kinds = _kinds(imported)
    assert {"MultiHeadAttention", "LayerNorm", "ClassToken", "PositionEmbedding"} <= kinds
    diffs = max_diff_per_framework(imported, weights, path, probe((1, 8, 8)))
    assert max(diffs.values()) <= TOL, diffs


def test_keras_attention_block_through_tf2onnx(tmp_path, probe):
    """keras.layers.MultiHeadAttention and LayerNormalization between a patch convolution
    and a pooled head, exported by tf2onnx (Einsums as Reshape/MatMul, the layer norms
    written out, Dense on tokens as Tensordot with the batch merged into the rows)."""
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    tf2onnx = pytest.importorskip("tf2onnx")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    y = keras.layers.Reshape((16, 16))(keras.layers.Conv2D(16, 2, strides=2)(inputs))
    y = keras.layers.LayerNormalization(epsilon=1e-5)(y)
    a = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8)(y, y)
    y = keras.layers.LayerNormalization()(keras.layers.Add()([y, a]))
    y = keras.layers.GlobalAveragePooling1D()(keras.layers.Dense(32, activation="relu")(y))
    model = keras.Model(inputs, keras.layers.Dense(4)(y))
    fn = tf.function(lambda x: {"out": model(x, training=False)})
    sig = [tf.TensorSpec([None, 8, 8, 3], tf.float32, name="input")]
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=sig, opset=17,
                                             inputs_as_nchw=["input:0"])  # fmt: skip
    path = tmp_path / "keras_mha.onnx"
    path.write_bytes(proto.SerializeToString())
    spec, weights = triptych.import_onnx(path)
    assert {"MultiHeadAttention", "LayerNorm", "Tokens"} <= _kinds(spec)
    diffs = max_diff_per_framework(spec, weights, path, probe((3, 8, 8)))
    assert max(diffs.values()) <= TOL, diffs


class _MaeDecoder(torch.nn.Module):
    """A masked autoencoder's ends: a 2x2 patch embedding to (9, 8) tokens (plus a learned
    position table), a Linear per token, the tokens back to a (6, 3, 3) image
    (``transpose(1, 2).reshape(n, c, h, w)``: the batch and channels read off the tensor, a
    Shape/Gather/Concat chain in TorchScript's export) and a ConvTranspose2d with kernel =
    stride = the patch back to the 6x6 pixels."""

    def __init__(self, position: bool) -> None:
        super().__init__()
        self.patch = torch.nn.Conv2d(2, 8, 2, stride=2)
        self.position = torch.nn.Parameter(0.1 * torch.randn(1, 9, 8)) if position else None
        self.pred = torch.nn.Linear(8, 6)
        self.unpatch = torch.nn.ConvTranspose2d(6, 2, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.patch(x).flatten(2).transpose(1, 2)
        if self.position is not None:
            t = t + self.position
        t = self.pred(t)
        n, _length, c = t.shape
        return self.unpatch(t.transpose(1, 2).reshape(n, c, 3, 3))


@pytest.mark.parametrize("position", [True, False], ids=["position", "plain"])
@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_mae_decoder_untokens_imports(tmp_path, probe, exporter, position):
    """Tokens back to an image import as `Untokens` where the tokens are a tensor of their
    own (after a position table: `Tokens`, `PositionEmbedding`, `Dense`, `Untokens`); with
    nothing but the Linear between patches and image, the importer keeps the tokens a view
    of the patch image, and the Linear becomes the equal 1x1 Conv2d on it."""
    torch.manual_seed(0)
    module = _MaeDecoder(position).eval()
    path = tmp_path / "mae.onnx"
    torch.onnx.export(module, (torch.randn(2, 2, 6, 6),), str(path), input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "b"}, "y": {0: "b"}},
                      opset_version=17, dynamo=exporter == "dynamo")  # fmt: skip
    spec, weights = triptych.import_onnx(path)
    kinds = [type(layer).__name__ for layer in spec.networks["net"].layers]
    if position:
        assert kinds == ["Conv2d", "Tokens", "PositionEmbedding", "Dense", "Untokens",
                         "ConvTranspose2d"], kinds  # fmt: skip
        untokens = [la for la in spec.networks["net"].layers if isinstance(la, S.Untokens)]
        assert (untokens[0].height, untokens[0].width) == (3, 3)
    else:
        assert kinds == ["Conv2d", "Conv2d", "ConvTranspose2d"], kinds
    diffs = max_diff_per_framework(spec, weights, path, probe((2, 6, 6)))
    assert max(diffs.values()) <= TOL, diffs


@pytest.mark.parametrize("framework", triptych.frameworks())
def test_untokens_exported_by_every_backend_imports(tmp_path, framework, probe):
    """The spec's Untokens (after a position embedding and a Dense on the tokens) exported
    by each backend's own exporter (PyTorch's transpose + reshape, the NHWC backends' plain
    reshape to (N, H, W, C) before their transpose to NCHW, MXNet's and Chainer's
    constant-target reshapes) imports back as Untokens."""
    x = S.Input((2, 6, 6))
    t = S.PositionEmbedding()(S.Tokens()(S.Conv2d(8, 2, stride=2)(x)))
    y = S.Conv2d(2, 3, padding=1)(S.Untokens(3, 3)(S.Dense(6)(t)))
    spec = S.single(S.Network("net", inputs=x, outputs=y), "untokens")
    model = triptych.create(spec, framework=framework, seed=1)
    path = next(iter(model.export_onnx(tmp_path).values()))
    imported, weights = triptych.import_onnx(path)
    assert {"Tokens", "PositionEmbedding", "Dense", "Untokens"} <= _kinds(imported)
    diffs = max_diff_per_framework(imported, weights, path, probe((2, 6, 6)))
    assert max(diffs.values()) <= TOL, diffs
