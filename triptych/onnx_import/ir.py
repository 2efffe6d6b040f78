"""The importer's intermediate graph: spec layers still open to folding (a Mul or Add by a
constant into the Conv or Dense before it, a crop into a ConvTranspose's padding), and the
values of the ONNX graph as *index maps* into them.

A data-movement op (Transpose, Reshape, Flatten, Tile, Slice, Unsqueeze, nearest Resize...)
creates no layer: the value it outputs is recorded as ``source`` (an IR node, or the input)
plus ``index``, an integer array of the value's per-sample shape whose entries index the
source's flattened elements. `IR.resolve` turns such a value into a spec tensor when the
index map is one the vocabulary expresses (identity, Flatten, Unflatten, nearest Upsample,
a crop of a ConvTranspose), and refuses otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from triptych.common import spec as S

INPUT = -1
#: layers that act element by element (a permutation or crop commutes with them)
ELEMENTWISE = (S.ReLU, S.LeakyReLU, S.Sigmoid, S.Tanh)


@dataclass
class INode:
    """One future spec layer: its class and arguments (mutable until emitted), inputs (IR
    node ids, `INPUT` for the network input), per-sample output shape and canonical weights
    (PyTorch layout)."""

    cls: type[S.Layer]
    args: dict[str, Any]
    inputs: list[int]
    shape: tuple[int, ...]
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    name: str | None = None
    source: str = ""
    users: int = 0


@dataclass
class Val:
    """An ONNX value: ``index`` (its per-sample shape) into ``source``'s elements."""

    source: int
    index: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.index.shape)


def identity_index(shape: tuple[int, ...]) -> np.ndarray:
    return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)


class NotExpressible(ValueError):
    """A value whose index map is no spec layer (the message says what it is)."""


class IR:
    """IR nodes plus the network input's shape."""

    def __init__(self, input_shape: tuple[int, ...]) -> None:
        self.input_shape = tuple(input_shape)
        self.nodes: list[INode] = []
        self._resolved: dict[tuple[int, bytes, tuple[int, ...]], int] = {}

    def shape_of(self, node_id: int) -> tuple[int, ...]:
        return self.input_shape if node_id == INPUT else self.nodes[node_id].shape

    def add(self, node: INode) -> int:
        for i in node.inputs:
            if i != INPUT:
                self.nodes[i].users += 1
        self.nodes.append(node)
        return len(self.nodes) - 1

    def value(self, node_id: int) -> Val:
        """The value that is node ``node_id``'s output, unchanged."""
        return Val(node_id, identity_index(self.shape_of(node_id)))

    def resolve(self, val: Val, source: str = "") -> int:
        """An IR node (or `INPUT`) whose output equals ``val`` as a tensor of ``val.shape``;
        adds Flatten / Unflatten / Upsample nodes as needed, folds a symmetric crop into the
        ConvTranspose it follows. `NotExpressible` if the map is none of these."""
        key = (val.source, val.index.tobytes(), val.shape)
        if key in self._resolved:
            return self._resolved[key]
        got = self._resolve(val, source)
        self._resolved[key] = got
        return got

    def _resolve(self, val: Val, source: str) -> int:
        src, idx, out = val.source, val.index, val.shape
        src_shape = self.shape_of(src)
        n = int(np.prod(src_shape))
        if idx.size == n and np.array_equal(idx.ravel(), np.arange(n)):
            if out == src_shape:
                return src
            return self._reshape(src, src_shape, out, source)
        flat = idx.ravel()
        if len(src_shape) == 1 and idx.size == n and np.array_equal(np.sort(flat), np.arange(n)):
            chain = self._producer_chain(src, S.Dense)
            if chain:  # a permuted unflatten (Keras' NHWC order): permute the Dense's rows
                dense = self.nodes[chain[-1]]
                for key in ("weight", "bias"):
                    if key in dense.weights:
                        dense.weights[key] = dense.weights[key][flat]
                return self._resolve(Val(src, identity_index(out)), source)
        if len(out) == 3 and len(src_shape) == 3 and out[0] == src_shape[0]:
            up = self._upsample_scale(idx, src_shape, out)
            if up:
                return self.add(INode(S.Upsample, {"scale": up}, [src], out, source=source))
            crop = self._crop(idx, src_shape, out)
            if crop and self._fold_crop(src, crop, out):
                return src
        raise NotExpressible(
            f"a data-movement pattern from shape {src_shape} to {out} that is not an identity,"
            " flatten, unflatten, integer nearest upsample or ConvTranspose crop"
        )

    def _reshape(self, src: int, src_shape: tuple, out: tuple, source: str) -> int:
        if len(out) not in (1, 3):
            raise NotExpressible(f"a reshape to rank {len(out)} per sample {out}")
        node = src
        if len(src_shape) == 3:
            node = self.add(INode(S.Flatten, {}, [node], (n := int(np.prod(src_shape)),),
                                  source=source))  # fmt: skip
            if out == (n,):
                return node
        return self.add(INode(S.Unflatten, {"shape": tuple(out)}, [node], out, source=source))

    @staticmethod
    def _upsample_scale(idx: np.ndarray, src_shape: tuple, out: tuple) -> int:
        _c, h, w = src_shape
        if out[1] % h or out[2] % w or out[1] // h != out[2] // w or out[1] == h:
            return 0
        s = out[1] // h
        ref = identity_index(src_shape).repeat(s, axis=1).repeat(s, axis=2)
        return s if np.array_equal(idx, ref) else 0

    @staticmethod
    def _crop(idx: np.ndarray, src_shape: tuple, out: tuple) -> int:
        _c, h, w = src_shape
        if (h - out[1]) % 2 or h - out[1] != w - out[2] or h <= out[1]:
            return 0
        p = (h - out[1]) // 2
        ref = identity_index(src_shape)[:, p : h - p, p : w - p]
        return p if np.array_equal(idx, ref) else 0

    def _producer_chain(self, src: int, cls: type[S.Layer]) -> list[int]:
        """``src`` and the element-wise layers back to a ``cls`` node, when nothing else uses
        any of them (so its weights or padding may change); else []."""
        chain, node, users = [], src, 0
        while node != INPUT and self.nodes[node].users == users:
            chain.append(node)
            if self.nodes[node].cls is cls:
                return chain
            if self.nodes[node].cls not in ELEMENTWISE:
                return []
            node, users = self.nodes[node].inputs[0], 1
        return []

    def _fold_crop(self, src: int, p: int, out: tuple) -> bool:
        chain = self._producer_chain(src, S.ConvTranspose2d)
        if not chain:
            return False
        node = self.nodes[chain[-1]]
        padding = node.args["padding"] + p
        if 2 * padding >= node.args["kernel"]:
            return False
        node.args["padding"] = padding
        for i in chain:
            self.nodes[i].shape = tuple(out)
        return True
