"""Parity levels as data: each level generates (runner, runner) pairs; `run_pairs` feeds
every pair the same seeded probe batch at each batch size and returns `Check` objects.
Every runner runs once per (runner, batch): its output is shared by every pair it is in.

1. native vs ORT on that framework's exported file, per framework;
2. ORT vs the ONNX reference evaluator (an independent implementation);
3. cross-framework: every pair of frameworks, native and through ONNX.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from triptych.common.compare import compare_outputs
from triptych.common.tolerances import Tolerance
from triptych.verify.checks import Check
from triptych.verify.inputs import probe_batch
from triptych.verify.runners import Runner

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
    input_shape: Callable[[str], tuple[int, ...]],
    tolerance: Callable[[str], Tolerance],
) -> list[Check]:
    """Run every pair at every batch size on the probe batch of its network."""
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
            x = probe_batch(input_shape(pair.network), batch, seed, pair.network)
            comparison = compare_outputs(
                {pair.network: output(pair.a, x, batch)},
                {pair.network: output(pair.b, x, batch)},
                tol.atol,
                tol.rtol,
                label=f"{pair.a.id.label} vs {pair.b.id.label}",
            )
            checks.append(Check(pair.level, pair.network, batch, pair.a.id, pair.b.id, comparison))
    return checks
