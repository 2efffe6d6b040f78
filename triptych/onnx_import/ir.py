"""The importer's intermediate graph: spec layers still open to folding (a Mul or Add by a
constant into the Conv or Dense before it, a crop into a ConvTranspose's padding), and the
values of the ONNX graph as *index maps* into them.

A data-movement op (Transpose, Reshape, Flatten, Tile, Slice, Split, Unsqueeze, Pad, nearest
Resize...) creates no layer: the value it outputs is recorded as ``source`` (an IR node, or
the input) plus ``index``, an integer array of the value's per-sample shape whose entries
index the source's flattened elements (-1: a zero from a Pad). `IR.resolve` turns such a
value into a spec tensor when the index map is one the vocabulary expresses (identity,
Flatten, Unflatten, nearest Upsample, a Slice along one axis, a ChannelShuffle, Tokens and
Untokens, a crop of a ConvTranspose), and refuses otherwise. A value whose batch axis a
Transpose moved away from the front (torch's adaptive-pool decomposition), or a Reshape
merged into another axis, keeps its whole index at the graph's batch and ``batch_axis``;
only further data movement may use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from triptych.common import spec as S

INPUT = -1
#: ``Val.batch_axis`` of a value whose batch axis a Reshape merged into another
MERGED = -1
#: layers that act element by element (a permutation or crop commutes with them)
ELEMENTWISE = (S.ReLU, S.LeakyReLU, S.Sigmoid, S.Tanh, S.Clip, S.HardSigmoid, S.HardSwish,
               S.SiLU, S.GELU, S.ELU, S.SELU, S.Softplus, S.Mish)  # fmt: skip


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
    """An ONNX value: ``index`` (its per-sample shape) into ``source``'s elements; with
    ``batch_axis`` nonzero, ``index`` is the whole value at the graph's batch (sample k's
    entries are sample 0's plus k times the source's size) and the batch axis is that one
    (`MERGED`: none, merged into another)."""

    source: int
    index: np.ndarray
    batch_axis: int = 0

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.index.shape)

    @property
    def padded(self) -> bool:
        """Does the value hold zeros of a Pad (index -1)?"""
        return bool((self.index < 0).any())


def identity_index(shape: tuple[int, ...]) -> np.ndarray:
    return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)


class NotExpressible(ValueError):
    """A value whose index map is no spec layer (the message says what it is)."""


class IR:
    """IR nodes plus the network input's shape."""

    def __init__(self, input_shape: tuple[int, ...], input_dtype: str = "float") -> None:
        self.input_shape = tuple(input_shape)
        self.input_dtype = input_dtype  # "int64": token ids, read only by Embedding
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
        if val.batch_axis:
            where = "merged into another" if val.batch_axis == MERGED else "moved"
            raise NotExpressible(f"a value whose batch axis is {where}")
        src_shape = self.shape_of(src)
        if val.padded:
            pads = _zero_pads(idx, src_shape)
            if pads is None:
                raise NotExpressible("zero padding (a Pad) that no Conv or pooling takes in")
            return self.add(INode(S.Pad, {"pads": pads}, [src], out, source=source))
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
        if len(out) == 1 and len(src_shape) == 3 and idx.size > n:
            s = round(float(np.sqrt(idx.size / n)))
            grown = (src_shape[0], src_shape[1] * s, src_shape[2] * s)
            if s * s * n == idx.size and self._upsample_scale(idx.reshape(grown), src_shape, grown):
                up = self.add(INode(S.Upsample, {"scale": s}, [src], grown, source=source))
                return self._reshape(up, grown, out, source)  # nearest upsample, then flatten
        if len(out) == 3 and len(src_shape) == 3 and out[0] == src_shape[0]:
            up = self._upsample_scale(idx, src_shape, out)
            if up:
                return self.add(INode(S.Upsample, {"scale": up}, [src], out, source=source))
            crop = self._crop(idx, src_shape, out)
            if crop and self._fold_crop(src, crop, out):
                return src
            groups = _shuffle_groups(idx, src_shape)
            if groups:
                args = {"groups": groups}
                return self.add(INode(S.ChannelShuffle, args, [src], out, source=source))
        tokens_of = (
            identity_index(src_shape).reshape(src_shape[0], -1).T if len(src_shape) == 3 else None
        )
        if (
            tokens_of is not None
            and idx.shape == tokens_of.shape
            and np.array_equal(idx, tokens_of)
        ):
            return self.add(INode(S.Tokens, {}, [src], out, source=source))  # ViT's patches
        if (
            len(src_shape) == 2
            and len(out) == 3
            and out[0] == src_shape[1]
            and out[1] * out[2] == src_shape[0]
            and np.array_equal(idx, identity_index(src_shape).T.reshape(out))
        ):  # tokens back to an image (an MAE decoder's unpatchify)
            args = {"height": out[1], "width": out[2]}
            return self.add(INode(S.Untokens, args, [src], out, source=source))
        if len(src_shape) == 2 and len(out) == 1 and out[0] == src_shape[1]:
            rows = identity_index(src_shape)
            hit = [r for r in range(src_shape[0]) if np.array_equal(idx, rows[r])]
            if hit:  # one token (ViT's class token): Slice it, then Flatten
                args = {"start": hit[0], "stop": hit[0] + 1, "axis": 1}
                one = self.add(INode(S.Slice, args, [src], (1, src_shape[1]), source=source))
                return self.add(INode(S.Flatten, {}, [one], out, source=source))
        cut = _slice(idx, src_shape)
        if cut is not None:
            args = dict(zip(("start", "stop", "axis"), cut, strict=True))
            return self.add(INode(S.Slice, args, [src], out, source=source))
        raise NotExpressible(
            f"a data-movement pattern from shape {src_shape} to {out} that is not an identity,"
            " flatten, unflatten, slice, channel shuffle, tokens, untokens, integer nearest "
            "upsample or ConvTranspose crop"
        )

    def _reshape(self, src: int, src_shape: tuple, out: tuple, source: str) -> int:
        if (
            len(out) == 2
            and len(src_shape) == 3
            and out == (src_shape[0], src_shape[1] * src_shape[2])
        ):
            return self.add(INode(S.Flatten, {"start": 2}, [src], out, source=source))
        if len(out) not in (1, 3):
            raise NotExpressible(f"a reshape to rank {len(out)} per sample {out}")
        node = src
        if len(src_shape) in (2, 3):  # an image, or tokens token by token
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


def _shuffle_groups(idx: np.ndarray, src_shape: tuple) -> int:
    """g when ``idx`` is ShuffleNet's channel shuffle of (C, H, W) in g groups, else 0."""
    c = src_shape[0]
    if tuple(idx.shape) != tuple(src_shape):
        return 0
    ident = identity_index(src_shape)
    for g in range(2, c):
        if c % g == 0:
            ref = ident.reshape(g, c // g, *src_shape[1:]).swapaxes(0, 1).reshape(src_shape)
            if np.array_equal(idx, ref):
                return g
    return 0


def _slice(idx: np.ndarray, src_shape: tuple) -> tuple[int, int, int] | None:
    """(start, stop, axis) (axis 1 = the first per-sample axis) when ``idx`` is elements
    start:stop of one axis of the source and all of the others, else None."""
    if idx.ndim != len(src_shape):
        return None
    diff = [a for a, (i, s) in enumerate(zip(idx.shape, src_shape, strict=True)) if i != s]
    if len(diff) != 1 or idx.size == 0:
        return None
    a = diff[0]
    start = int(np.unravel_index(int(idx.flat[0]), src_shape)[a])
    stop = start + idx.shape[a]
    if stop > src_shape[a]:
        return None
    if not np.array_equal(idx, np.take(identity_index(src_shape), range(start, stop), axis=a)):
        return None
    return start, stop, a + 1


def channels_last(val: Val, src_shape: tuple[int, ...]) -> np.ndarray | None:
    """When the last axis of ``val`` runs over the source's channels (first axis) in order,
    at one position of the rest each (ConvNeXt's NHWC view of an NCHW tensor), the source
    position (flat over the source's other axes) of each element of ``val.shape[:-1]``;
    else None."""
    idx = val.index
    if val.batch_axis or val.padded or not idx.ndim or idx.shape[-1] != src_shape[0]:
        return None
    rest = int(np.prod(src_shape[1:]))
    chan, pos = idx // rest, idx % rest
    if not (chan == np.arange(src_shape[0])).all() or not (pos == pos[..., :1]).all():
        return None
    return pos[..., 0]


def _zero_pads(idx: np.ndarray, src_shape: tuple) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) when ``idx`` is the (C, H, W) source zero-padded (-1) on
    H and W, else None."""
    if idx.ndim != 3 or len(src_shape) != 3 or idx.shape[0] != src_shape[0]:
        return None
    rows = np.flatnonzero((idx >= 0).any(axis=(0, 2)))
    cols = np.flatnonzero((idx >= 0).any(axis=(0, 1)))
    if not rows.size or not cols.size:
        return None
    t, left = int(rows[0]), int(cols[0])
    inner = idx[:, t : rows[-1] + 1, left : cols[-1] + 1]
    if inner.shape != tuple(src_shape) or not np.array_equal(inner, identity_index(src_shape)):
        return None
    return (t, left, idx.shape[1] - 1 - int(rows[-1]), idx.shape[2] - 1 - int(cols[-1]))
