"""The importer's op converters are registered with the op versions they support: every op
is covered at every opset the importer accepts (from the opset that introduced it: Gelu is
opset 20's), and a version outside a converter's range, or an op without one, is a refusal
that says which; fused patterns are looked up in their own domain."""

from __future__ import annotations

import pytest
from onnx import helper

from triptych.onnx_import.errors import Unsupported
from triptych.onnx_import.ops import OPS, op_version
from triptych.onnx_import.patterns import FUSED
from triptych.onnx_import.reader import OPSETS


@pytest.mark.parametrize("op", sorted(OPS.ops()))
def test_every_converter_covers_every_accepted_opset(op):
    first, last = OPS.ops()[op]
    versions = {opset: op_version(op, opset) for opset in OPSETS}
    assert versions[OPSETS[-1]] is not None, (op, versions)
    for opset, version in versions.items():
        if version is None:  # the op is newer than this opset: no file of it can hold one
            assert all(v is None for o, v in versions.items() if o < opset), (op, versions)
            continue
        assert first <= version <= last, (op, opset, version)


def test_fused_patterns_are_found_in_their_domain():
    node = helper.make_node("SiLU", ["x"], ["y"], domain=FUSED)
    assert OPS.lookup(node, 17).__name__ == "convert"
    stray = helper.make_node("SiLU", ["x"], ["y"])
    with pytest.raises(Unsupported, match="op SiLU has no counterpart"):
        OPS.lookup(stray, 17)


def test_a_version_outside_the_range_is_refused_naming_it():
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="linear")
    with pytest.raises(Unsupported, match=r"Resize version 10 \(opset 10\).*versions 11 to 19"):
        OPS.lookup(node, 10)
    assert OPS.lookup(node, 13).__name__ == "resize"


def test_an_op_without_a_converter_is_refused_naming_it():
    node = helper.make_node("Hardmax", ["x"], ["y"], axis=1)
    with pytest.raises(Unsupported, match="op Hardmax has no counterpart"):
        OPS.lookup(node, 17)
    custom = helper.make_node("Relu", ["x"], ["y"], domain="com.example")
    with pytest.raises(Unsupported, match="op com.example.Relu"):
        OPS.lookup(custom, 17)


def test_registering_an_op_twice_is_an_error():
    with pytest.raises(ValueError, match="Conv already has a converter"):
        OPS.register("Conv", versions=(1, 22))(lambda b, node: None)
