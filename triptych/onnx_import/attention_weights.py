"""Reading a self-attention region's weights by evaluation (`triptych.onnx_import.attention`
finds the regions): the region runs in float64 under the ONNX reference evaluator on one-hot
probes (a column of the q, k, v and output projections per probe, the biases at zero, the
scale on the scores by least squares), a causal mask is recognised, and the fused layer is
checked against the region on random tokens before it is accepted."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from triptych.export.reference_ops import reference_evaluator
from triptych.onnx_import import key_padding as KP
from triptych.onnx_import.ids import _chain

#: ops allowed between a score MatMul and its Softmax, and between Softmax and the P @ V
#: data movement between the tokens and the projections (torch's (L, N, C) layout inside)
MOVES = {"Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze"}
SCORE_OPS = {"Mul", "Div", "Add", "Where"} | MOVES
PASS_OPS = {"Identity", "Dropout", "Cast"} | MOVES
#: relative agreement the fused layer must reach against the region on random tokens
AGREE = 1e-9


def _data_inputs(graph, node: onnx.NodeProto) -> list[str]:
    return [i for i in node.input if i and i not in graph.constants]


def _from_ids(graph, value: str) -> bool:
    """Is ``value`` computed from the network's integer input and constants only?"""
    chain = _chain(graph, value)
    return bool(chain) and graph.input in {i for n in chain for i in n.input}


def _back(graph, value: str, allowed: set[str]) -> onnx.NodeProto | None:
    """The first producer up from ``value`` that is not one of ``allowed`` (single data input;
    a value computed from the token ids alone, a key-padding mask, does not count)."""
    node = graph.producer.get(value)
    while node is not None and node.op_type in allowed:
        ins = [i for i in _data_inputs(graph, node) if not _from_ids(graph, i)]
        if len(ins) != 1:
            return None
        node = graph.producer.get(ins[0])
    return node


def _forward(graph, value: str, allowed: set[str]) -> onnx.NodeProto | None:
    """The first consumer down from ``value`` (each value used once) not in ``allowed``."""
    while True:  # a Shape reading the value only feeds shape arithmetic: not a use
        users = [u for u in graph.consumers.get(value, []) if u is None or u.op_type != "Shape"]
        if len(users) != 1 or users[0] is None:
            return None
        if users[0].op_type not in allowed:
            return users[0]
        value = users[0].output[0]


def _branch_scale(graph, value: str) -> float:
    """The product of the scalar constants ``value`` was multiplied (or divided) by since its
    projection: torch's SDPA scales q and kᵀ by sqrt(scale) each, and only q kᵀ's total scale
    is visible in the scores, so the canonical split (k unscaled) needs each branch's own."""
    scale, node = 1.0, graph.producer.get(value)
    while node is not None and node.op_type in MOVES | {"Mul", "Div"}:
        ins = _data_inputs(graph, node)
        if len(ins) != 1:
            break
        if node.op_type in {"Mul", "Div"}:
            const = [graph.constants[i] for i in node.input if i in graph.constants]
            if len(const) != 1 or np.size(const[0]) != 1:
                break
            factor = float(np.asarray(const[0], np.float64).reshape(()))
            if node.op_type == "Div" and node.input[1] == ins[0]:
                break  # c / x is not a scale
            scale *= 1.0 / factor if node.op_type == "Div" else factor
        node = graph.producer.get(ins[0])
    return scale


def _runner(
    graph, members: list[onnx.NodeProto], inputs: list[str], outputs: list[str],
    kinds: dict[str, int] | None = None,
):  # fmt: skip
    """A float64 evaluator of ``members`` from ``inputs`` to ``outputs`` (constants as
    initializers, float ones in float64). Shape arithmetic inside the region runs from the
    values fed rather than from its folded constants: a Shape of a value whose batch is
    merged with the heads (N·h, L, d) was folded as if its first axis were the batch."""
    derived: set[str] = set()
    for n in graph.nodes:
        if n.op_type == "Shape" or any(i in derived for i in n.input):
            derived.update(o for o in n.output if o)

    def fixed(name: str) -> bool:
        return name in graph.constants and name not in derived

    computed = [n for n in members if not all(fixed(o) for o in n.output if o)]
    made = {o for n in computed for o in n.output}
    used = {i for n in computed for i in n.input if i in graph.constants and i not in made}
    inits = []
    for name in sorted(used):
        value = np.asarray(graph.constants[name])
        if value.dtype == np.float32:
            value = value.astype(np.float64)
        inits.append(numpy_helper.from_array(value, name))
    cast = [_as_double(n) for n in computed]
    g = helper.make_graph(
        cast,
        "attention",
        [
            helper.make_tensor_value_info(i, (kinds or {}).get(i, onnx.TensorProto.DOUBLE), None)
            for i in inputs
        ],
        [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in outputs],
        inits,
    )
    opset = max(
        (o.version for o in graph.model.opset_import if o.domain in ("", "ai.onnx")), default=17
    )
    session = reference_evaluator(
        helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    )
    return lambda *xs: session.run(None, dict(zip(inputs, xs, strict=True)))


def _elem(value: np.ndarray) -> int:
    """The ONNX element type of a mask value fed to the region (float ones as float64)."""
    if np.issubdtype(value.dtype, np.floating):
        return onnx.TensorProto.DOUBLE
    return helper.np_dtype_to_tensor_dtype(value.dtype)


def _as_double(node: onnx.NodeProto) -> onnx.NodeProto:
    """``node``, with a Cast to float made a Cast to double (the region runs in float64)."""
    if node.op_type != "Cast":
        return node
    to = next(a.i for a in node.attribute if a.name == "to")
    if to != onnx.TensorProto.FLOAT:
        return node
    return helper.make_node("Cast", list(node.input), list(node.output), to=onnx.TensorProto.DOUBLE)


def _heads4(value: np.ndarray, batch: int, transpose_b: bool = False) -> np.ndarray:
    """A per-head tensor as (N, heads, L, d): exporters write (N, h, L, d) or, batch and heads
    merged batch-major, (N·h, L, d); ``transpose_b``: B of ``A @ B`` is (.., d, L)."""
    if value.ndim == 3:
        value = value.reshape(batch, value.shape[0] // batch, *value.shape[1:])
    if value.ndim != 4:
        raise ValueError(f"a per-head value of rank {value.ndim}")
    return value.transpose(0, 1, 3, 2) if transpose_b else value


def read_weights(graph, members, x: str, y: str, softmax: onnx.NodeProto):
    """(heads, causal, canonical tensors) of the region, or None when it is no attention."""
    scores = _back(graph, softmax.input[0], SCORE_OPS)
    pv = _forward(graph, softmax.output[0], PASS_OPS)
    a, b, v, s_in, o = scores.input[0], scores.input[1], pv.input[1], softmax.input[0], pv.output[0]
    length, c = graph.shape(x)
    n = int(graph.batch)
    source = KP.mask_source(graph, members, x)
    if source is False:
        return None
    try:
        pad, clean = None, []
        if source:  # a key-padding mask from the token ids: read without padding
            run_mask = KP.mask_runner(graph, source)
            id_length = graph.shape(graph.input)[0]
            pad = KP.padding_id(graph, run_mask, id_length)
            if pad is None:
                return None
            clean = [run_mask(np.full((n, id_length), 1 if pad == 0 else 0, np.int64))]
        kinds = {source: _elem(clean[0])} if source else {}
        run = _runner(graph, members, [x, *([source] if source else [])],
                      [a, b, v, s_in, y, o], kinds)  # fmt: skip

        def qkv(tokens: np.ndarray, *mask: np.ndarray) -> tuple[np.ndarray, ...]:
            qa, kb, vv, sr, yr, oo = run(tokens, *(mask or clean))
            q, k, v4 = _heads4(qa, n), _heads4(kb, n, True), _heads4(vv, n)
            return q, k, v4, sr, yr, oo

        q0, k0_, v0, _, _, o0 = qkv(np.zeros((n, length, c)))
        heads, d = q0.shape[1], q0.shape[3]
        if heads * d != c or k0_.shape != q0.shape or v0.shape != q0.shape:
            return None
        w = np.zeros((3, c, c))
        for first in range(0, c, n):
            probe = np.zeros((n, length, c))
            ks = list(range(first, min(c, first + n)))
            for row, k in enumerate(ks):
                probe[row, 0, k] = 1.0
            got = qkv(probe)
            for which in range(3):
                for row, k in enumerate(ks):
                    w[which][:, k] = (
                        got[which][row, :, 0] - (q0, k0_, v0)[which][row, :, 0]
                    ).reshape(c)
        bias = np.stack([t[0, :, 0].reshape(c) for t in (q0, k0_, v0)])
        xr = np.random.default_rng(0).standard_normal((n, length, c))
        qr, kr, _, sr, yr, _ = qkv(xr)
        raw = (qr @ kr.transpose(0, 1, 3, 2)).reshape(np.shape(sr))
        finite = np.isfinite(sr) & (sr > -1e4)
        scale = float((sr[finite] * raw[finite]).sum() / (raw[finite] ** 2).sum())
        causal = not finite.all()
        mask = finite.reshape(n, heads, length, length)[0, 0]
        if causal and not np.array_equal(mask, np.tril(np.ones((length, length), bool))):
            return None  # a mask other than causal
        run_out = _runner(graph, _after(members, o), [o], [y])
        y0 = run_out(np.zeros(o0.shape))[0]
        wo = np.zeros((c, c))
        for first in range(0, c, n):
            probe = np.zeros((n, heads, length, d))
            js = list(range(first, min(c, first + n)))
            for row, j in enumerate(js):
                probe[row, j // d, 0, j % d] = 1.0
            yy = run_out(probe.reshape(o0.shape))[0]
            for row, j in enumerate(js):
                wo[:, j] = yy[row, 0] - y0[row, 0]
    except Exception:  # a region the reference evaluator cannot run in float64: not fused
        return None
    # q' = qs·q and k' = ks·k as evaluated; the canonical form keeps k and scales q by g
    qs, ks = _branch_scale(graph, a), _branch_scale(graph, b)
    q_gain = scale * np.sqrt(d) * qs * ks
    if abs(q_gain - 1.0) < 1e-12:  # the usual case: exactly the 1/sqrt(d) of the spec
        q_gain = 1.0
    tensors = {
        "in_proj_weight": np.concatenate([w[0] / qs * q_gain, w[1] / ks, w[2]]),
        "in_proj_bias": np.concatenate([bias[0] / qs * q_gain, bias[1] / ks, bias[2]]),
        "out_proj_weight": wo,
        "out_proj_bias": y0[0, 0].copy(),
    }
    checks = [(attention64(xr, tensors, heads, causal), yr)]
    if source:  # and with padding: sample k pads its last tokens
        ids, keep = KP.sample_ids(KP.vocabulary(graph), pad, n, graph.shape(graph.input)[0])
        try:
            padded = qkv(xr, run_mask(ids))[4]
        except Exception:
            return None
        checks.append((attention64(xr, tensors, heads, causal, keep), padded))
    for expected, got in checks:
        if expected.shape != got.shape:
            return None
        if not np.abs(expected - got).max() <= AGREE * max(1.0, float(np.abs(got).max())):
            return None
    return heads, causal, {k: v.astype(np.float32) for k, v in tensors.items()}, pad


def _after(members: list[onnx.NodeProto], value: str) -> list[onnx.NodeProto]:
    """The members downstream of ``value``."""
    down, out = {value}, []
    for n in members:
        if any(i in down for i in n.input):
            down.update(n.output)
            out.append(n)
    return out


def attention64(
    x: np.ndarray, t: dict[str, np.ndarray], heads: int, causal: bool,
    keep: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """`S.MultiHeadAttention` in float64 numpy on (N, L, C) with canonical tensors ``t``;
    ``keep`` (N, L): `S.MaskedMultiHeadAttention`'s keys to attend."""
    n, length, c = x.shape
    d = c // heads
    qkv = x @ t["in_proj_weight"].T + t["in_proj_bias"]
    q, k, v = (qkv[..., i * c : (i + 1) * c].reshape(n, length, heads, d).transpose(0, 2, 1, 3)
               for i in range(3))  # fmt: skip
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d)
    if causal:
        s = np.where(np.tril(np.ones((length, length), bool)), s, -np.inf)
    if keep is not None:
        s = np.where(keep[:, None, None, :], s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    o = (p @ v).transpose(0, 2, 1, 3).reshape(n, length, c)
    return o @ t["out_proj_weight"].T + t["out_proj_bias"]
