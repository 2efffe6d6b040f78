"""`ConvertContext`: what an op converter may use of the import in progress (the builder
implements it; converters name this protocol, not the builder, so ``ops`` never imports
upward or in a cycle)."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import onnx

from triptych.common import spec as S
from triptych.onnx_import.ir import IR, Val
from triptych.onnx_import.reader import OnnxGraph


class ConvertContext(Protocol):
    """The state one converter reads and extends: the loaded ``graph`` (constants,
    consumers, inferred shapes, opset), the ``ir`` being built, and the value of every
    data value converted so far."""

    graph: OnnxGraph
    ir: IR

    def data(self, name: str) -> Val:
        """The data value ``name`` (`Unsupported` if it is a constant)."""
        ...

    def const(self, name: str, what: str) -> np.ndarray:
        """The constant ``name`` as float32 (`Unsupported` naming ``what`` if it is data)."""
        ...

    def optional_const(self, node: onnx.NodeProto, k: int) -> np.ndarray | None:
        """The node's constant input ``k`` (a bias), or None when absent."""
        ...

    def resolve(self, val: Val, node: onnx.NodeProto | None = None) -> int:
        """The IR node computing ``val`` in its own layout (`Unsupported` if none can)."""
        ...

    def resolved(self, name: str) -> int:
        """`resolve` of the data value ``name``."""
        ...

    def set(self, name: str, val: Val) -> None:
        """Record the value of the ONNX value ``name``."""
        ...

    def sole_use(self, name: str) -> bool:
        """Is ``name`` the only use of the IR node it indexes (so that node may change)?"""
        ...

    def layer(
        self,
        node: onnx.NodeProto,
        cls: type[S.Layer],
        args: dict[str, Any],
        inputs: list[int],
        weights: dict[str, np.ndarray],
        weight_name: str | None,
        output: bool = True,
    ) -> int:
        """Add one spec layer fed by IR ``inputs``; returns its IR node."""
        ...
