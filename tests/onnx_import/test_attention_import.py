"""Attention imports: the spec's token layers exported by torch.onnx (dynamo and
TorchScript), and torchvision's own VisionTransformer (random weights, dynamo), import
with each attention region fused into one MultiHeadAttention (weights read by evaluating
the region in float64, `triptych.onnx_import.attention`), and the imported spec's build in
every framework the importer tests use equals ORT on the file within 1e-5 of the output's
scale. A region that is not attention in PyTorch's form is refused node by node."""

from __future__ import annotations

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
    return {type(layer).__name__ for layer in spec.networks["net"].layers}


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


def test_torchvision_vision_transformer_imports(tmp_path, probe):
    from triptych.verify.import_survey import load_torchvision

    load_torchvision()
    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    vit = VisionTransformer(image_size=28, patch_size=7, num_layers=2, num_heads=4,
                            hidden_dim=32, mlp_dim=64, num_classes=10).eval()  # fmt: skip
    with torch.no_grad():
        vit.class_token.normal_()  # torchvision starts it at zero
    path = tmp_path / "vit.onnx"
    torch.onnx.export(vit, (torch.randn(2, 3, 28, 28),), str(path), input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "b"}, "y": {0: "b"}},
                      opset_version=17, dynamo=True)  # fmt: skip
    spec, weights = triptych.import_onnx(path)
    kinds = [type(layer).__name__ for layer in spec.networks["net"].layers]
    assert kinds.count("MultiHeadAttention") == 2
    assert {"Tokens", "ClassToken", "PositionEmbedding", "LayerNorm", "GELU"} <= set(kinds)
    diffs = max_diff_per_framework(spec, weights, path, probe((3, 28, 28)))
    assert max(diffs.values()) <= TOL, diffs
