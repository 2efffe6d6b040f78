"""Key-padding masks in attention regions: PyTorch's ``src_key_padding_mask = ids == pad``
reaches the scores as a value computed from the network's int64 token ids alone (Equal,
Cast, Where, Unsqueeze, Expand...). Such a value is evaluated from ids (the chain between
the input and it, by the ONNX reference evaluator), the padding id is found as the one id
whose mask differs from every other's, and the region is then read with the mask of unpadded
ids and checked with padding (`triptych.onnx_import.attention_weights`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from triptych.export.reference_ops import reference_evaluator
from triptych.onnx_import.ids import _chain

#: ids tried when no embedding table gives the vocabulary (the padding id is among them)
DEFAULT_IDS = 256


def mask_source(graph, members: list[onnx.NodeProto], x: str) -> str | bool | None:
    """The one value the region reads besides ``x`` and constants, when it is computed from
    the int64 input alone; None when the region reads nothing else; False when it reads
    something it cannot take (several values, or one from the data)."""
    made = {o for m in members for o in m.output}
    outside = {
        i for m in members for i in m.input
        if i and i != x and i not in made and i not in graph.constants
    }  # fmt: skip
    if not outside:
        return None
    value = next(iter(outside))
    chain = _chain(graph, value) if len(outside) == 1 else None
    if chain is None or graph.input not in {i for n in chain for i in n.input}:
        return False
    return value


def mask_runner(graph, value: str) -> Callable[[np.ndarray], np.ndarray]:
    """ids (N, L) int64 -> ``value`` (its float values as float64)."""
    chain = _chain(graph, value) or []
    used = {i for n in chain for i in n.input if i in graph.constants}
    inits = [numpy_helper.from_array(np.asarray(graph.constants[i]), i) for i in sorted(used)]
    first = next(v for v in graph.model.graph.input if v.name == graph.input)
    g = helper.make_graph(chain, "mask", [first],
                          [helper.make_tensor_value_info(value, onnx.TensorProto.UNDEFINED, None)],
                          inits)  # fmt: skip
    model = helper.make_model(g, opset_imports=list(graph.model.opset_import))
    session = reference_evaluator(model)
    elem = first.type.tensor_type.elem_type

    def run(ids: np.ndarray) -> np.ndarray:
        feed = ids.astype(np.int32) if elem == onnx.TensorProto.INT32 else ids.astype(np.int64)
        out = np.asarray(session.run(None, {graph.input: feed})[0])
        return out.astype(np.float64) if np.issubdtype(out.dtype, np.floating) else out

    return run


def vocabulary(graph) -> int:
    """Rows of the first table gathered by the input's ids, else `DEFAULT_IDS`."""
    for node in graph.nodes:
        if node.op_type == "Gather" and node.input[1] == graph.input:
            table = graph.constants.get(node.input[0])
            if table is not None and np.ndim(table) == 2:
                return int(np.shape(table)[0])
    return DEFAULT_IDS


def padding_id(graph, run: Callable[[np.ndarray], np.ndarray], length: int) -> int | None:
    """The one id whose mask (a sample of that id only) differs from all others'; None when
    no id or several ids are masked."""
    rows = vocabulary(graph)
    masks = []
    for start in range(0, rows, int(graph.batch)):  # the chain's shapes are at graph.batch
        ids = np.minimum(np.arange(start, start + int(graph.batch)), rows - 1)
        out = run(np.repeat(ids[:, None], length, axis=1))
        masks += [out[k].tobytes() for k in range(len(ids))][: rows - start]
    counts = Counter(masks)
    if len(counts) != 2:
        return None
    odd = [i for i, m in enumerate(masks) if counts[m] == 1]
    return odd[0] if len(odd) == 1 else None


def sample_ids(rows: int, pad: int, batch: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids with padding, keep) for checking: each sample keeps its first tokens and pads the
    rest (sample k pads its last k % (length - 1) tokens); ids never the padding elsewhere."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, rows - 1, (batch, length))
    ids = np.where(ids >= pad, ids + 1, ids) if rows > 1 else ids
    keep = np.ones((batch, length), bool)
    for k in range(batch):
        cut = (k + 1) % max(1, length - 1)
        if cut:
            keep[k, length - cut :] = False
    return np.where(keep, ids, pad).astype(np.int64), keep
