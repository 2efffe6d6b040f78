"""Graph specs: the functional form, its shape inference and counts, its refusals (each
naming the node, its inputs' shapes and what was expected), JSON round trip and hash."""

import json
import subprocess
import sys

import pytest

from triptych.common import spec as S


def resnetlet() -> S.Network:
    x = S.Input((3, 32, 32))
    a = S.Conv2d(64, kernel=3, padding=1, name="stem")(x)
    h = S.Conv2d(64, kernel=3, padding=1)(S.ReLU()(S.BatchNorm()(a)))
    y = S.ReLU()(S.Add()([a, h]))
    p = S.MaxPool2d(3, stride=2, padding=1)(y)
    c = S.Concat()([S.Upsample(2)(p), y])
    return S.Network("block", inputs=x, outputs=S.Dense(10)(S.GlobalAvgPool()(c)))


def test_the_design_example_builds_with_shapes_params_and_flops():
    net = resnetlet()
    assert net.output_shape == (10,) and not net.is_chain
    by_kind = {i.layer.kind: i for i in net.infos}
    assert by_kind["concat"].output_shape == (128, 32, 32)
    assert by_kind["concat"].input_shapes == ((64, 32, 32), (64, 32, 32))
    assert by_kind["maxpool2d"].output_shape == (64, 16, 16)
    conv = 64 * 3 * 9 + 64
    assert net.params == conv + (64 * 64 * 9 + 64) + 2 * 64 + (128 * 10 + 10)
    assert by_kind["add"].flops == 64 * 32 * 32
    assert by_kind["conv2d"].flops > 0 and net.flops == sum(i.flops for i in net.infos)
    assert "block.stem.weight" in net.param_shapes()
    assert all(k.split(".")[1] in ("stem", *map(str, range(20))) for k in net.tensor_shapes())


def test_a_chain_written_functionally_is_the_chain():
    layers = [S.Conv2d(4, 3, padding=1), S.ReLU(), S.Flatten(), S.Dense(3)]
    chain = S.Network("n", (1, 6, 6), layers)
    x = S.Input((1, 6, 6))
    h = x
    for layer in [S.Conv2d(4, 3, padding=1), S.ReLU(), S.Flatten(), S.Dense(3)]:
        h = layer(h)
    functional = S.Network("n", inputs=x, outputs=h)
    assert functional.is_chain and functional.to_dict() == chain.to_dict()
    assert S.single(functional).hash == S.single(chain).hash
    assert list(functional.tensor_shapes()) == ["n.0.weight", "n.0.bias", "n.3.weight", "n.3.bias"]


def test_json_round_trip_is_exact_and_the_hash_is_stable_across_runs():
    spec = S.single(resnetlet(), "resnetlet")
    back = S.ModelSpec.from_json(spec.to_json())
    assert back.to_json() == spec.to_json() and back.hash == spec.hash
    code = (
        "import sys; sys.path.insert(0, 'tests/common'); from test_graph_spec import resnetlet; "
        "from triptych.common import spec as S; print(S.single(resnetlet(), 'r').hash)"
    )
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.strip() for _ in range(2)}  # fmt: skip
    assert runs == {spec.hash}


def _raises(fn, *words):
    with pytest.raises(S.SpecError) as e:
        fn()
    for w in words:
        assert w in str(e.value), str(e.value)


def test_wrong_graphs_fail_at_construction_naming_node_and_shapes():
    x = S.Input((4, 8, 8))
    a = S.Conv2d(8, 3, padding=1)(x)
    b = S.Conv2d(8, 3, stride=2, padding=1, name="down")(x)
    _raises(lambda: S.Add(name="merge")([a, b]), "add 'merge'", "(8, 8, 8)", "(8, 4, 4)")
    _raises(lambda: S.Concat()([a, b]), "concat", "other dims equal", "(8, 4, 4)")
    _raises(lambda: S.Add()(a), "list of two or more")
    _raises(lambda: S.Dense(3)(a), "dense", "(8, 8, 8)", "Flatten")
    other = S.Input((4, 8, 8))
    dangling = S.Add()([a, S.Conv2d(8, 3, padding=1)(other)])
    _raises(lambda: S.Network("n", inputs=x, outputs=dangling), "dangling input")
    _raises(lambda: S.Network("n", inputs=other, outputs=a), "dangling input")
    c = S.ReLU()(x)
    _raises(lambda: S.Network("n", inputs=x, outputs=x), "its output is its input")
    twice = S.Conv2d(4, 3, padding=1)
    shared = S.Add()([twice(x), twice(x)])
    _raises(lambda: S.Network("n", inputs=x, outputs=shared), "applied twice", "weight sharing")
    dup = S.Add()([S.Conv2d(4, 1, name="c")(x), S.Conv2d(4, 1, name="c")(x)])
    _raises(lambda: S.Network("n", inputs=x, outputs=dup), "name 'c' is used twice")
    _raises(lambda: S.Conv2d(4, name="has.dot"), "must be an identifier")
    assert S.Network("n", inputs=x, outputs=c).output_shape == (4, 8, 8)


def test_from_dict_refuses_cycles_unused_nodes_and_unused_inputs():
    good = S.Network("n", inputs=(x := S.Input((2,))), outputs=S.Add()([S.Dense(2)(x), x]))
    d = good.to_dict()
    cyc = json.loads(json.dumps(d))
    cyc["nodes"][0]["inputs"] = [1]
    _raises(lambda: S.Network.from_dict(cyc), "must be earlier nodes")
    unused = json.loads(json.dumps(d))
    unused["nodes"].insert(1, {"layer": {"kind": "relu"}, "inputs": [-1]})
    unused["nodes"][2]["inputs"] = [0, -1]
    unused["output"] = 2
    _raises(lambda: S.Network.from_dict(unused), "feed nothing", "relu")
    no_input = {"name": "n", "input_shape": [2], "init": "default", "output": 0,
                "nodes": [{"layer": {"kind": "add"}, "inputs": [-1, -1]}]}  # fmt: skip
    assert S.Network.from_dict(no_input).output_shape == (2,)
