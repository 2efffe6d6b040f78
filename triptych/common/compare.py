"""Numeric comparison results that carry their numbers (Polygraphy style).

For each output: names, then shapes, then dtypes are checked before values. Values pass
elementwise when |a - b| <= atol + rtol·|b| (numpy's ``allclose`` rule, b is the reference)
and both are finite or both are the same non-finite value. Every result reports max/mean
absolute error, max relative error (|a-b| / |b| over elements with b != 0), the minimum atol
that passes at rtol 0 and the minimum rtol that passes at the given atol, and the count and
first indices of mismatches. Comparing nothing is a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FIRST_INDICES = 5


@dataclass
class OutputComparison:
    """The comparison of one named output."""

    name: str
    shape_a: tuple[int, ...] | None
    shape_b: tuple[int, ...] | None
    dtype_a: str | None = None
    dtype_b: str | None = None
    max_abs: float = float("nan")
    mean_abs: float = float("nan")
    max_rel: float = float("nan")
    min_atol: float = float("nan")
    min_rtol: float = float("nan")
    mismatches: int = 0
    size: int = 0
    first_mismatches: list[tuple[int, ...]] = field(default_factory=list)
    problem: str | None = None
    atol: float = 0.0
    rtol: float = 0.0

    @property
    def passed(self) -> bool:
        return self.problem is None and self.mismatches == 0

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items()}
        d["first_mismatches"] = [list(map(int, i)) for i in self.first_mismatches]
        d["passed"] = self.passed
        return d


def compare_arrays(
    name: str, a: Any, b: Any, atol: float | np.ndarray, rtol: float
) -> OutputComparison:
    """Compare ``a`` against the reference ``b`` (shape, dtype, then values). ``atol`` may be
    an array of ``b``'s shape: a bound per element (derived ones, `triptych.verify.oracle`);
    the result then reports its largest element as ``atol``."""
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    atol_max = float(np.max(atol)) if np.size(atol) else 0.0
    out = OutputComparison(
        name,
        tuple(a_arr.shape),
        tuple(b_arr.shape),
        str(a_arr.dtype),
        str(b_arr.dtype),
        atol=atol_max,
        rtol=rtol,
        size=int(b_arr.size),
    )
    if a_arr.shape != b_arr.shape:
        out.problem = f"shape {a_arr.shape} != {b_arr.shape}"
        return out
    if a_arr.dtype != b_arr.dtype:
        out.problem = f"dtype {a_arr.dtype} != {b_arr.dtype}"
        return out
    if not (np.issubdtype(a_arr.dtype, np.number) or a_arr.dtype == bool):
        out.problem = f"non-numeric dtype {a_arr.dtype}"
        return out
    if a_arr.size == 0:
        out.problem = "empty arrays: nothing compared"
        return out
    a64, b64 = a_arr.astype(np.float64), b_arr.astype(np.float64)
    finite = np.isfinite(a64) & np.isfinite(b64)
    same_special = ~finite & ((a64 == b64) | (np.isnan(a64) & np.isnan(b64)))
    diff = np.where(finite, np.abs(a64 - b64), np.where(same_special, 0.0, np.inf))
    ref = np.abs(b64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(ref > 0, diff / ref, np.where(diff > 0, np.inf, 0.0))
        need_rtol = np.where(diff > atol, (diff - atol) / np.where(ref > 0, ref, np.nan), 0.0)
    need_rtol = np.where(np.isnan(need_rtol), np.inf, need_rtol)
    bad = diff > atol + rtol * ref
    out.max_abs, out.mean_abs = float(diff.max()), float(diff.mean())
    out.max_rel, out.min_atol = float(rel.max()), float(diff.max())
    out.min_rtol = float(need_rtol.max())
    out.mismatches = int(bad.sum())
    out.first_mismatches = [tuple(int(i) for i in ix) for ix in np.argwhere(bad)[:FIRST_INDICES]]
    if not finite.all() and not same_special[~finite].all():
        out.problem = f"{int((~finite & ~same_special).sum())} non-finite value(s) differ"
    return out


@dataclass
class Comparison:
    """Result of comparing named outputs: truthy when every output passed."""

    label: str
    outputs: list[OutputComparison]
    atol: float
    rtol: float
    problems: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.outputs) and not self.problems and all(o.passed for o in self.outputs)

    @property
    def passed(self) -> bool:
        return bool(self)

    @property
    def max_abs(self) -> float:
        vals = [o.max_abs for o in self.outputs if not np.isnan(o.max_abs)]
        return max(vals) if vals else float("nan")

    def failures(self) -> list[str]:
        """One line per fault (missing/extra names, shape/dtype, value mismatches)."""
        lines = list(self.problems)
        if not self.outputs and not self.problems:
            lines.append("nothing was compared")
        for o in self.outputs:
            if o.problem:
                lines.append(f"{o.name}: {o.problem}")
            elif o.mismatches:
                lines.append(
                    f"{o.name}: {o.mismatches}/{o.size} elements differ by more than "
                    f"atol {o.atol:g} + rtol {o.rtol:g}·|ref| (max abs {o.max_abs:.3g},"
                    f" first at {o.first_mismatches[:3]}; passes with atol >= "
                    f"{o.min_atol:.3g} or rtol >= {o.min_rtol:.3g})"
                )
        return lines

    def raise_if_failed(self) -> Comparison:
        if not self:
            raise AssertionError(
                f"{self.label or 'comparison'} failed:\n  "
                + "\n  ".join(self.failures())
                + "\n"
                + str(self)
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "passed": self.passed,
            "atol": self.atol,
            "rtol": self.rtol,
            "problems": self.problems,
            "outputs": [o.to_dict() for o in self.outputs],
        }

    def __str__(self) -> str:
        head = (
            f"{self.label or 'comparison'}: {'PASS' if self else 'FAIL'} "
            f"(atol {self.atol:g}, rtol {self.rtol:g})"
        )
        rows = [
            f"  {'output':<28} {'shape':<16} {'max abs':>10} {'mean abs':>10} "
            f"{'max rel':>10} {'min atol':>10} {'min rtol':>10} {'mismatch':>9}"
        ]
        for o in self.outputs:
            shape = "x".join(map(str, o.shape_b or ()))
            rows.append(
                f"  {o.name:<28} {shape:<16} {o.max_abs:>10.3g} {o.mean_abs:>10.3g} "
                f"{o.max_rel:>10.3g} {o.min_atol:>10.3g} {o.min_rtol:>10.3g} "
                f"{o.mismatches:>9}" + (f"  {o.problem}" if o.problem else "")
            )
        tail = [f"  ! {p}" for p in self.problems]
        if not self.outputs and not self.problems:
            tail.append("  ! nothing was compared")
        return "\n".join([head, *rows, *tail])

    __repr__ = __str__


def _as_named(x: Any) -> dict[str, Any]:
    if isinstance(x, Mapping):
        return dict(x)
    if isinstance(x, list | tuple):
        return {f"output_{i}": v for i, v in enumerate(x)}
    return {"output": x}


def compare_outputs(
    a: Any,
    b: Any,
    atol: float | np.ndarray = 1e-5,
    rtol: float = 1e-4,
    label: str = "",
    tolerances: Mapping[str, tuple[float | np.ndarray, float]] | None = None,
) -> Comparison:
    """Compare arrays (or dicts/lists of them) ``a`` against reference ``b``.

    ``tolerances`` overrides (atol, rtol) per output name. Names are matched first: a name in
    one side only is a failure, and every failure is collected.
    """
    na, nb = _as_named(a), _as_named(b)
    problems = [f"missing in first: {n}" for n in nb if n not in na]
    problems += [f"missing in second (reference): {n}" for n in na if n not in nb]
    outputs = []
    for name in [n for n in nb if n in na]:
        at, rt = (tolerances or {}).get(name, (atol, rtol))
        outputs.append(compare_arrays(name, na[name], nb[name], at, rt))
    shown = float(np.max(atol)) if np.size(atol) else 0.0  # a per-element bound: its largest
    return Comparison(label, outputs, shown, rtol, problems)
