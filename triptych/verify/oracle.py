"""Parity bounds derived from a float64 oracle, not set by hand.

Every framework builds (and trains) the spec twice: in float32, the product, and in float64,
its oracle. A float32 result ``a`` of framework A sits at ``e_a = |a - o_a|`` from A's own
float64 result ``o_a``: that is what float32 rounding did to it. For two float32 results
``a`` and ``b`` the triangle inequality gives, element by element,

    |a - b| <= e_a + e_b + |o_a - o_b|

so when the two float64 builds agree (they compute the same mathematics), ``a`` and ``b``
can differ by at most the sum of their own rounding errors. The derived bound is

    |a - b| <= FACTOR * (e_a + e_b) + FLOOR_ULPS * eps32 * max|o|

per element: FACTOR = 2 lets the float64 builds themselves disagree by as much as float32
rounding moved either side (float64 rounds too, and training amplifies it), no more; the
floor (4 float32 ulps at the output's scale) covers elements both sides round exactly. A
disagreement beyond it is a difference in the mathematics (a bug, or a convention), whatever
its size; a disagreement within it is rounding, whatever its size: a deep BatchNorm network
whose float32 training departs from float64 by 3.5e-3 after nineteen steps passes when the
frameworks differ by that much, and a 1 % learning-rate slip is caught at the step where
rounding is still at 1e-7.

Each framework's oracle is its own float64 build, never another framework's: a bug in one
backend is in both its builds, so it cannot widen its own bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from triptych.common.compare import Comparison, compare_outputs

#: final tensors per framework: framework -> canonical name -> array
Finals = dict[str, dict[str, np.ndarray]]

#: float32's machine epsilon (2**-23)
EPS32 = float(np.finfo(np.float32).eps)
#: how far the float64 builds may disagree, in units of the float32 rounding (see above)
FACTOR = 2.0
#: the floor, in float32 ulps at the output's largest magnitude
FLOOR_ULPS = 4.0
#: a parameter whose float64 movement is below this fraction of its float32 movement has a
#: zero exact gradient (rounding noise is all that moves it in float32)
ZERO_GRADIENT_RATIO = 1e-6


def distance(x: np.ndarray, oracle: np.ndarray) -> np.ndarray:
    """|x - oracle| element by element, in float64."""
    return np.abs(np.asarray(x, np.float64) - np.asarray(oracle, np.float64))


def floor(oracle: np.ndarray) -> float:
    """The absolute floor for one output: `FLOOR_ULPS` float32 ulps at its largest value."""
    scale = float(np.abs(np.asarray(oracle, np.float64)).max(initial=0.0))
    return FLOOR_ULPS * EPS32 * scale


def derived_atol(
    a: np.ndarray, oracle_a: np.ndarray, b: np.ndarray, oracle_b: np.ndarray
) -> np.ndarray:
    """The per-element absolute bound for comparing float32 ``a`` with float32 ``b``."""
    spread = FACTOR * (distance(a, oracle_a) + distance(b, oracle_b))
    return spread + max(floor(oracle_a), floor(oracle_b))


@dataclass(frozen=True)
class OracleDistances:
    """How far each side of a comparison is from its own float64 build (max |x - o|), and
    the largest derived bound used; what the parity table shows beside the difference."""

    a: float
    b: float
    bound: float

    def to_dict(self) -> dict[str, float]:
        return {"float64_distance_a": self.a, "float64_distance_b": self.b, "bound": self.bound}


def distances(
    a: np.ndarray, oracle_a: np.ndarray, b: np.ndarray, oracle_b: np.ndarray
) -> tuple[np.ndarray, OracleDistances]:
    """(per-element bound, its summary) for one output."""
    bound = derived_atol(a, oracle_a, b, oracle_b)
    return bound, OracleDistances(
        float(distance(a, oracle_a).max(initial=0.0)),
        float(distance(b, oracle_b).max(initial=0.0)),
        float(bound.max(initial=0.0)),
    )


def zero_gradient(start: np.ndarray, end32: np.ndarray, end64: np.ndarray) -> bool:
    """Whether a parameter's exact gradient was zero over the run: float64 left it (all but)
    where it started while float32 moved it (rounding noise alone, e.g. a bias before
    BatchNorm, whose gradient BatchNorm's mean subtraction cancels exactly)."""
    moved32 = float(distance(end32, start).max(initial=0.0))
    moved64 = float(distance(end64, start).max(initial=0.0))
    return moved32 > 0 and moved64 <= ZERO_GRADIENT_RATIO * moved32


def compare_finals(
    finals: Finals, finals64: Finals, a: str, b: str, names: list[str], label: str
) -> tuple[Comparison, OracleDistances]:
    """Final tensors ``names`` of framework ``a`` against ``b`` (float32), each element
    within its derived bound from both frameworks' float64 finals; the worst distances."""
    bounds: dict[str, tuple[np.ndarray, float]] = {}
    summaries = []
    for k in names:
        bound, summary = distances(finals[a][k], finals64[a][k], finals[b][k], finals64[b][k])
        bounds[k] = (bound, 0.0)
        summaries.append(summary)
    cmp = compare_outputs(
        {k: finals[a][k] for k in names},
        {k: finals[b][k] for k in names},
        0.0,
        0.0,
        label=label,
        tolerances=bounds,
    )
    worst = OracleDistances(
        max((s.a for s in summaries), default=0.0),
        max((s.b for s in summaries), default=0.0),
        max((s.bound for s in summaries), default=0.0),
    )
    return cmp, worst


def zero_gradient_note(
    names: list[str],
    start: dict[str, np.ndarray],
    finals: Finals,
    finals64: Finals,
    frameworks: tuple[str, ...],
) -> str:
    """A note naming the parameters among ``names`` whose exact gradient float64 says was
    zero in every one of ``frameworks``, with the evidence; "" when there are none."""
    zero = [
        k
        for k in names
        if all(zero_gradient(start[k], finals[f][k], finals64[f][k]) for f in frameworks)
    ]
    if not zero:
        return ""
    k, fw = zero[0], frameworks[0]
    moved32 = float(distance(finals[fw][k], start[k]).max())
    moved64 = float(distance(finals64[fw][k], start[k]).max())
    more = f" and {len(zero) - 1} more" if len(zero) > 1 else ""
    return (
        f"zero exact gradient: {k}{more} (float64 moved it {moved64:.1e}, {fw} float32 "
        f"{moved32:.1e} on rounding noise alone, e.g. a bias before BatchNorm); each judged "
        f"by its own float64 drift"
    )
