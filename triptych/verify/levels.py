"""Parity levels as data: each level generates (runner, runner) pairs; `run_pairs` feeds
every pair the same seeded probe batch at each batch size and returns `Check` objects.
Every runner runs once per (runner, batch): its output is shared by every pair it is in.

1. native vs ORT on that framework's exported file, per framework;
2. ORT vs the ONNX reference evaluator (an independent implementation);
3. cross-framework: every pair of frameworks, native and through ONNX.

With an ``oracle`` (each framework's float64 build on the same batch) every pair is judged
by the bound derived from both runners' distances to their float64 results
(`triptych.verify.oracle`); without one (a file made elsewhere, or a tolerance the caller
gave) by the fixed ``tolerance``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from triptych.common.compare import compare_outputs
from triptych.common.tolerances import Tolerance
from triptych.verify import oracle as O
from triptych.verify.checks import Check
from triptych.verify.runners import Runner, RunnerId

#: (runner's identity, probe batch) -> that runner's framework's float64 output, or None
Oracle = Callable[[RunnerId, np.ndarray], np.ndarray | None]

#: runners by framework, then by network
RunnerTable = dict[str, dict[str, Runner]]


@dataclass(frozen=True)
class Pair:
    """``a`` is compared against the reference ``b`` on ``network`` at ``level``."""

    level: int
    network: str
    a: Runner
    b: Runner


def native_vs_ort(native: RunnerTable, ort: RunnerTable) -> list[Pair]:
    """Level 1: each framework's native network against ORT on its own export."""
    return [Pair(1, net, native[fw][net], ort[fw][net]) for fw in native for net in native[fw]]


def ort_vs_reference(ort: RunnerTable, reference: RunnerTable) -> list[Pair]:
    """Level 2: ORT against the reference evaluator on the same file."""
    return [Pair(2, net, ort[fw][net], reference[fw][net]) for fw in reference for net in ort[fw]]


def cross_framework(native: RunnerTable, ort: RunnerTable) -> list[Pair]:
    """Level 3: every framework pair (a vs reference b), natively and through ONNX."""
    pairs = []
    for a, b in itertools.combinations(list(native), 2):
        for net in native[b]:
            pairs.append(Pair(3, net, native[a][net], native[b][net]))
            if a in ort and b in ort:
                pairs.append(Pair(3, net, ort[a][net], ort[b][net]))
    return pairs


def run_pairs(
    pairs: list[Pair],
    batches: tuple[int, ...],
    seed: int,
    probe: Callable[[str, int], np.ndarray],
    tolerance: Callable[[str], Tolerance],
    oracle: Oracle | None = None,
) -> list[Check]:
    """Run every pair at every batch size on the probe batch of its network; with
    ``oracle``, against the derived bound (see the module docstring)."""
    outputs: dict[tuple[int, int], np.ndarray] = {}

    def output(runner: Runner, x: np.ndarray, batch: int) -> np.ndarray:
        key = (id(runner), batch)
        if key not in outputs:
            outputs[key] = runner.run(x)
        return outputs[key]

    checks = []
    for pair in pairs:
        tol = tolerance(pair.network)
        for batch in batches:
            x = probe(pair.network, batch)
            ya, yb = output(pair.a, x, batch), output(pair.b, x, batch)
            oa, ob = (oracle(pair.a.id, x), oracle(pair.b.id, x)) if oracle else (None, None)
            atol, rtol, summary = tol.atol, tol.rtol, None
            if oa is not None and ob is not None and oa.shape == ya.shape == yb.shape == ob.shape:
                atol, summary = O.distances(ya, oa, yb, ob)
                rtol = 0.0
            comparison = compare_outputs(
                {pair.network: ya},
                {pair.network: yb},
                atol,
                rtol,
                label=f"{pair.a.id.label} vs {pair.b.id.label}",
            )
            checks.append(
                Check(pair.level, pair.network, batch, pair.a.id, pair.b.id, comparison,
                      oracle=summary)
            )  # fmt: skip
    return checks
