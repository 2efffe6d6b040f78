"""Layer normalisation written out in elementary ops (tf2onnx's Keras LayerNormalization,
MXNet's and Sonnet's exports: ReduceMean or ReduceSum, Sub, Pow or Mul, Sqrt, Reciprocal or
Div, Mul, Add, in their own orders) fused into one ``LayerNormalization`` node (domain
`FUSED`), found from the reduction over the last axis and read by evaluation, as attention
is (`triptych.onnx_import.attention`): the region from the tokens ``x`` to the latest value
``y`` computed from ``x`` and the reduction only is evaluated in float64; the scale, shift
and epsilon are fitted (large-variance rows give scale and shift, small-variance rows the
epsilon) and the fused op is checked against the region on fresh rows before it replaces
it. A region that is not a layer norm is left alone."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from triptych.onnx_import.attention import _between
from triptych.onnx_import.attention_weights import AGREE, _runner
from triptych.onnx_import.patterns import FUSED


def fuse_layer_norms(graph) -> list[onnx.NodeProto]:  # graph: reader.OnnxGraph
    """``graph.nodes`` with each layer-norm region replaced by one fused node."""
    seeds = ("ReduceMean", "ReduceSum", "GlobalAveragePool")
    for seed in [n for n in graph.nodes if n.op_type in seeds]:
        if seed not in graph.nodes or not _over_last_axis(graph, seed):
            continue
        x = seed.input[0]
        for y, members in _candidates(graph, seed):
            found = _read(graph, members, x, y)
            if found is None:
                continue
            scale, shift, eps = found
            names = [f"{y}::scale", f"{y}::shift"]
            graph.constants[names[0]], graph.constants[names[1]] = scale, shift
            fused = helper.make_node("LayerNormalization", [x, *names], [y], domain=FUSED,
                                     name=f"{y}::layer_norm", axis=-1, epsilon=eps)  # fmt: skip
            last = max(graph.nodes.index(n) for n in members)
            ids = {id(n) for n in members}
            graph.nodes = [
                fused if i == last else n
                for i, n in enumerate(graph.nodes)
                if id(n) not in ids or i == last
            ]
            graph.link()
            break
    return graph.nodes


def _over_last_axis(graph, node: onnx.NodeProto) -> bool:
    """Does ``node`` reduce only the last axis of a data value with a known shape?"""
    x = node.input[0]
    shape = graph.shape(x)
    if x in graph.constants or shape is None or not shape:
        return False
    if node.op_type == "GlobalAveragePool":  # tf2onnx's mean over the last axis of (N, L, C)
        return len(shape) == 2
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    axes = attrs.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1] in graph.constants:
        axes = [int(a) for a in np.ravel(graph.constants[node.input[1]])]
    rank = len(shape) + 1
    return (
        axes is not None
        and [a % rank for a in axes] == [rank - 1]
        and attrs.get("keepdims", 1) == 1
    )


def _candidates(graph, seed: onnx.NodeProto):
    """(y, member nodes) from the latest value computed from x and the reduction only."""
    x = seed.input[0]
    grown, produced = [seed], set(seed.output)
    for n in graph.nodes[graph.nodes.index(seed) + 1 :]:
        data = [i for i in n.input if i and i not in graph.constants]
        if data and all(i == x or i in produced for i in data) and any(i in produced for i in data):
            grown.append(n)
            produced.update(n.output)
    for end in reversed(grown[1:]):
        y = end.output[0]
        members = _between(graph, graph.nodes, x, y)
        ids = {id(m) for m in members}
        leaks = [
            o
            for m in members
            for o in m.output
            if o != y and any(u is None or id(u) not in ids for u in graph.consumers.get(o, []))
        ]
        if not leaks and seed in members:
            yield y, members


def _read(graph, members, x: str, y: str) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(scale, shift, epsilon) of the region x -> y, or None when it is no layer norm."""
    shape = graph.shape(x)
    n = int(graph.batch)
    rng = np.random.default_rng(0)
    try:
        run = _runner(graph, members, [x], [y])
        big = [rng.standard_normal((n, *shape)) * 10.0 for _ in range(4)]
        small = rng.standard_normal((n, *shape)) * 1e-3
        outs_big = [run(b)[0] for b in big]
        out_small = run(small)[0]
        if outs_big[0].shape != big[0].shape:
            return None
        eps = 0.0
        for _ in range(4):  # scale and shift at this eps, then eps from the small rows
            rows = np.concatenate([_normalised(b, eps).reshape(-1, shape[-1]) for b in big])
            ys = np.concatenate([o.reshape(-1, shape[-1]) for o in outs_big])
            mean_r, mean_y = rows.mean(0), ys.mean(0)
            scale = ((rows - mean_r) * (ys - mean_y)).sum(0) / ((rows - mean_r) ** 2).sum(0)
            shift = mean_y - scale * mean_r
            centred = small - small.mean(-1, keepdims=True)
            ok = np.abs(scale) > 1e-6
            ratio = centred[..., ok] * scale[ok] / (out_small[..., ok] - shift[ok])
            var = (centred**2).mean(-1, keepdims=True)
            eps = float(np.median(ratio**2 - var))
        fresh = rng.standard_normal((n, *shape)) * 0.05 + 0.3
        want = run(fresh)[0]
        constant_rows = run(np.zeros((n, *shape)))[0].reshape(-1, shape[-1])
    except Exception:  # not evaluable in float64: not fused
        return None
    got = _normalised(fresh, eps) * scale + shift
    if not eps > 0 or np.abs(got - want).max() > AGREE * 1e3 * max(1.0, float(np.abs(want).max())):
        return None
    # exact where the file holds them: a constant row normalises to 0, leaving the shift, and
    # the scale is the region's own (C,) constant the fit agrees with (rounding-free weights)
    shift = _snap(shift, [constant_rows[0]])
    vectors = [_vector(graph, i, shape) for m in members for i in m.input]
    scale = _snap(scale, [v for v in vectors if v is not None])
    return scale.astype(np.float32), shift.astype(np.float32), float(np.float32(eps))


def _vector(graph, name: str, shape) -> np.ndarray | None:
    value = graph.constants.get(name)
    if value is None or np.size(value) != shape[-1]:
        return None
    return np.asarray(value, np.float64).reshape(-1)


def _snap(fitted: np.ndarray, candidates: list[np.ndarray]) -> np.ndarray:
    """The first candidate within rounding of ``fitted`` (relative 1e-9), else ``fitted``."""
    bound = 1e-9 * max(1.0, float(np.abs(fitted).max()))
    for c in candidates:
        if c.shape == fitted.shape and np.abs(c - fitted).max() <= bound:
            return c
    return fitted


def _normalised(x: np.ndarray, eps: float) -> np.ndarray:
    centred = x - x.mean(-1, keepdims=True)
    return centred / np.sqrt((centred**2).mean(-1, keepdims=True) + eps)
