"""The registry of ONNX op converters: one function per op type, registered with the range
of op versions (``since_version`` of the op's schema) it was written and tested for::

    @OPS.register("Resize", versions=(11, 19))
    def resize(b: ConvertContext, node: onnx.NodeProto) -> None: ...

A node whose op has no converter, or whose version (the newest version of the op at the
file's opset) is outside the range, is a refusal that names the op, its version and what is
supported; the importer collects every refusal of a file before it raises. Fused patterns
(`triptych.onnx_import.patterns`) register with ``fused=True``: their nodes are in the
private domain `FUSED` and have no version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import onnx
import onnx.defs

from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.errors import Unsupported
from triptych.onnx_import.patterns import FUSED

Convert = Callable[[ConvertContext, onnx.NodeProto], None]
#: the ONNX domains the converters read (the default domain has two names)
DOMAINS = ("", "ai.onnx")


@dataclass(frozen=True)
class OpConverter:
    """A converter and the op versions it supports, inclusive."""

    convert: Convert
    first: int
    last: int


@cache
def op_version(op_type: str, opset: int) -> int | None:
    """The version of ``op_type`` in effect at ``opset`` (its schema's ``since_version``),
    or None when the op does not exist at that opset."""
    try:
        return onnx.defs.get_schema(op_type, opset, "").since_version
    except onnx.defs.SchemaError:
        return None


class OpRegistry:
    """ONNX op type -> `OpConverter`."""

    def __init__(self) -> None:
        self.converters: dict[str, OpConverter] = {}
        self.fused: dict[str, Convert] = {}

    def register(
        self, *op_types: str, versions: tuple[int, int] = (0, 0), fused: bool = False
    ) -> Callable[[Convert], Convert]:
        """Decorator: ``fn`` converts each of ``op_types`` for op versions
        ``versions[0]`` to ``versions[1]`` inclusive (with ``fused``: the fused pattern
        nodes of that name instead)."""
        if not fused and versions == (0, 0):
            raise ValueError("an ONNX op converter needs its versions")

        def add(fn: Convert) -> Convert:
            table = self.fused if fused else self.converters
            for op in op_types:
                if op in table:
                    raise ValueError(f"ONNX op {op} already has a converter")
                table[op] = fn if fused else OpConverter(fn, *versions)
            return fn

        return add

    def lookup(self, node: onnx.NodeProto, opset: int) -> Convert:
        """The converter for ``node`` in a file of ``opset``; `Unsupported` naming the op, its
        version and the supported range otherwise."""
        if node.domain == FUSED and node.op_type in self.fused:
            return self.fused[node.op_type]
        op = f"{node.domain + '.' if node.domain else ''}{node.op_type}"
        entry = self.converters.get(node.op_type) if node.domain in DOMAINS else None
        if entry is None:
            raise Unsupported(f"op {op} has no counterpart in the triptych layer vocabulary")
        version = op_version(node.op_type, opset)
        if version is None or not entry.first <= version <= entry.last:
            raise Unsupported(
                f"{op} version {version} (opset {opset}): the importer converts versions "
                f"{entry.first} to {entry.last} of {op}"
            )
        return entry.convert

    def ops(self) -> dict[str, tuple[int, int]]:
        """Every supported op type -> its (first, last) version."""
        return {op: (e.first, e.last) for op, e in sorted(self.converters.items())}


#: the importer's op converters
OPS = OpRegistry()
