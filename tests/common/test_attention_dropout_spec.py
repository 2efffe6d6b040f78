"""`MultiHeadAttention(dropout=p)`: validated, serialised only when p > 0 (specs saved before
it keep their JSON and hashes), and a Dropout for exact masks (`triptych.common.dropout`)."""

from __future__ import annotations

import pytest

from triptych.common import spec as S
from triptych.common.dropout import dropout_layers, dropout_masks


def _spec(*layers: S.Layer) -> S.ModelSpec:
    x = S.Input((2, 6, 6))
    t = S.Tokens()(S.Conv2d(8, 2, stride=2)(x))
    for layer in layers:
        t = layer(t)
    return S.single(S.Network("net", inputs=x, outputs=S.Dense(3)(S.Flatten()(t))), "mha")


def test_dropout_0_is_left_out_of_the_dict_and_the_hash_is_unchanged():
    assert "dropout" not in S.MultiHeadAttention(2).to_dict()
    assert S.MultiHeadAttention(2, dropout=0).to_dict() == S.MultiHeadAttention(2).to_dict()
    assert "dropout" not in S.MaskedMultiHeadAttention(2).to_dict()
    spec = _spec(S.MultiHeadAttention(2), S.MultiHeadAttention(4, bias=False, causal=True))
    # the hash of this spec before attention dropout existed (computed on that code)
    assert spec.hash == "9aae66d35ce1ab23"


def test_dropout_round_trips_and_changes_the_hash():
    layer = S.MultiHeadAttention(2, dropout=0.25)
    assert layer.to_dict()["dropout"] == 0.25
    assert S.layer_from_dict(layer.to_dict()) == layer
    spec = _spec(layer)
    back = S.ModelSpec.from_json(spec.to_json())
    assert back.hash == spec.hash != _spec(S.MultiHeadAttention(2)).hash
    assert back.networks["net"].infos[2].layer.dropout == 0.25


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, True, "0.1", None])
def test_dropout_outside_0_1_is_a_spec_error_naming_the_range(p):
    with pytest.raises(S.SpecError, match=r"dropout .*allowed a float in \[0, 1\)"):
        S.MultiHeadAttention(2, dropout=p)
    with pytest.raises(S.SpecError, match=r"\[0, 1\)"):
        S.MaskedMultiHeadAttention(2, dropout=p)


def test_attention_with_dropout_is_a_dropout_layer_with_head_query_key_masks():
    spec = _spec(S.MultiHeadAttention(2, dropout=0.5), S.MultiHeadAttention(2))
    net = spec.networks["net"]
    assert dropout_layers(net) == [2]
    masks = dropout_masks(net, 3, seed=0, step=1)
    assert masks[2].shape == (3, 2, 9, 9)
    assert dropout_layers(_spec(S.MultiHeadAttention(2, dropout=0.0)).networks["net"]) == []
