import pytest

from triptych.common import spec as S


def test_shape_inference_and_counts_of_a_mixed_network():
    net = S.Network(
        "n",
        (3, 8, 8),
        [
            S.Conv2d(4, kernel=3, stride=2, padding=1),
            S.BatchNorm(),
            S.ReLU(),
            S.MaxPool2d(2),
            S.Flatten(),
            S.Dense(5),
        ],
    )
    assert [i.output_shape for i in net.infos] == [
        (4, 4, 4),
        (4, 4, 4),
        (4, 4, 4),
        (4, 2, 2),
        (16,),
        (5,),
    ]
    # conv 4*3*3*3 + 4, BN 4 + 4, dense 16*5 + 5
    assert net.params == 112 + 8 + 85
    assert net.param_shapes()["n.0.weight"] == (4, 3, 3, 3)
    assert net.buffer_shapes() == {"n.1.running_mean": (4,), "n.1.running_var": (4,)}


def test_conv_flops_match_a_hand_computation():
    # Conv2d 3 -> 8 channels, k 3, stride 1, pad 1 on 3x10x10: output 8x10x10.
    # MACs = Cin*k*k*Cout*Hout*Wout = 3*9*8*100 = 21600 -> 43200 FLOPs, + 800 bias adds.
    net = S.Network("n", (3, 10, 10), [S.Conv2d(8, kernel=3, stride=1, padding=1)])
    assert net.infos[0].output_shape == (8, 10, 10)
    assert net.flops == 2 * 3 * 9 * 8 * 100 + 800


def test_conv_transpose_doubles_size_and_counts_flops():
    net = S.Network("n", (6, 4, 4), [S.ConvTranspose2d(2, kernel=4, stride=2, padding=1)])
    assert net.output_shape == (2, 8, 8)
    assert net.param_shapes()["n.0.weight"] == (6, 2, 4, 4)  # IOHW
    assert net.flops == 2 * 6 * 16 * 16 * 2 + 2 * 64


@pytest.mark.parametrize(
    "layers, shape, words",
    [
        ([S.Conv2d(4, kernel=7)], (1, 5, 5), ["layer 0", "conv2d", "kernel 7", "(1, 5, 5)"]),
        ([S.Conv2d(4, 3), S.Dense(3)], (1, 5, 5), ["layer 1", "dense", "(4, 3, 3)", "Flatten"]),
        ([S.Dense(12), S.Unflatten((2, 3, 3))], (4,), ["layer 1", "unflatten", "18", "12"]),
        ([S.ReLU(), S.MaxPool2d(4)], (2, 3, 3), ["layer 1", "maxpool2d", "(2, 3, 3)"]),
    ],
)
def test_invalid_specs_name_layer_index_and_shapes(layers, shape, words):
    with pytest.raises(S.SpecError) as e:
        S.Network("bad", shape, layers)
    for w in words:
        assert w in str(e.value)


def test_model_spec_checks_main_chain():
    a = S.Network("a", (4,), [S.Dense(3)])
    b = S.Network("b", (5,), [S.Dense(2)])
    with pytest.raises(S.SpecError, match="chains 'a'"):
        S.ModelSpec("m", {"a": a, "b": b}, main=["a", "b"])
    with pytest.raises(S.SpecError, match="unknown network 'c'"):
        S.ModelSpec("m", {"a": a}, main="c")


def test_json_round_trip_keeps_hash_and_layers():
    net = S.Network(
        "g",
        (8,),
        [
            S.Dense(32),
            S.BatchNorm(),
            S.LeakyReLU(0.2),
            S.Unflatten((2, 4, 4)),
            S.ConvTranspose2d(1),
            S.Tanh(),
        ],
        init="dcgan",
    )
    spec = S.single(net, "toy")
    back = S.ModelSpec.from_json(spec.to_json())
    assert back.hash == spec.hash
    assert back.networks["g"].layers == net.layers
    assert back.networks["g"].init == "dcgan"
    other = S.single(S.Network("g", (8,), [S.Dense(33)]), "toy")
    assert other.hash != spec.hash


def test_unknown_layer_kind_lists_the_known_ones():
    with pytest.raises(S.SpecError, match="known: .*conv2d"):
        S.layer_from_dict({"kind": "attention"})
