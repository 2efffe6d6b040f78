"""`Check`: one comparison between two runners at one level, and `ParityReport`, all the
checks of one model. Every level (training included) produces these; tables, JSON and the
report render from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from triptych.common.compare import Comparison
from triptych.verify.oracle import OracleDistances
from triptych.verify.runners import RunnerId

LEVELS = {
    1: "native vs ORT",
    2: "ORT vs reference",
    3: "cross-framework",
    4: "training",
    5: "data-parallel",
}


@dataclass
class Check:
    """``a`` compared against the reference ``b`` on ``network`` at ``batch``.

    ``gating``: whether a failure fails the report (False for numbers reported apart, e.g.
    BatchNorm running variance between a biased and an unbiased estimator). ``oracle``: both
    sides' distances to their float64 builds and the derived bound, where one was used."""

    level: int
    network: str
    batch: int
    a: RunnerId
    b: RunnerId
    comparison: Comparison
    gating: bool = True
    note: str = ""
    oracle: OracleDistances | None = None

    @property
    def passed(self) -> bool:
        return bool(self.comparison)

    @property
    def max_abs(self) -> float:
        return self.comparison.max_abs

    @property
    def max_rel(self) -> float:
        vals = [o.max_rel for o in self.comparison.outputs]
        return max(vals) if vals else float("nan")

    @property
    def pair(self) -> str:
        return f"{self.a.label} vs {self.b.label}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "kind": LEVELS[self.level],
            "network": self.network,
            "batch": self.batch,
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "gating": self.gating,
            "note": self.note,
            "passed": self.passed,
            "oracle": None if self.oracle is None else self.oracle.to_dict(),
            "comparison": self.comparison.to_dict(),
        }


@dataclass
class ParityReport:
    """All checks of one model; truthy when there were checks and every gating one passed.

    ``skipped`` says what could not be checked and why (e.g. a foreign file without a spec).
    ``training`` keeps the per-step loss curves of level 4 for plotting."""

    model: str
    spec_hash: str
    frameworks: list[str]
    absent: dict[str, str] = field(default_factory=dict)
    providers: list[str] = field(default_factory=list)
    files: dict[str, dict[str, str]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    training: Any = None  # verify.training.TrainingRun
    gan_training: Any = None  # verify.gan.GanTrainingRun, for adversarial specs
    skipped: list[str] = field(default_factory=list)
    weights_source: str = "seed"

    def __bool__(self) -> bool:
        gating = [c for c in self.checks if c.gating]
        return bool(gating) and all(c.passed for c in gating)

    def level(self, n: int) -> list[Check]:
        return [c for c in self.checks if c.level == n]

    def worst(self, level: int, measure: str = "max_abs") -> float:
        """Worst ``max_abs`` (or ``max_rel``) over the checks of ``level``; NaN if none."""
        values = [getattr(c, measure) for c in self.level(level)]
        return max(values, default=float("nan"))

    def failures(self) -> list[str]:
        lines = [] if self.checks else [f"{self.model}: nothing was compared"]
        for c in self.checks:
            if c.gating and not c.passed:
                lines += [
                    f"L{c.level} {c.network} b{c.batch} {c.pair}: {f}"
                    for f in c.comparison.failures()
                ]
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "spec_hash": self.spec_hash,
            "passed": bool(self),
            "frameworks": self.frameworks,
            "absent": self.absent,
            "providers": self.providers,
            "files": self.files,
            "weights_source": self.weights_source,
            "skipped": self.skipped,
            "checks": [c.to_dict() for c in self.checks],
            "training": None if self.training is None else self.training.to_dict(),
            "gan_training": None if self.gan_training is None else self.gan_training.to_dict(),
        }

    def __str__(self) -> str:
        rows = [f"parity {self.model} ({self.spec_hash}): {'PASS' if self else 'FAIL'}"]
        for c in self.checks:
            rows.append(
                f"  L{c.level} {c.network:<14} b{c.batch:<3} {c.a.label:>22} vs "
                f"{c.b.label:<22} max|diff| {c.max_abs:.2e}  "
                + ("ok" if c.passed else "FAIL" if c.gating else "differs (reported apart)")
            )
        rows += [f"  - not checked: {s}" for s in self.skipped]
        return "\n".join(rows + [f"  ! {f}" for f in self.failures()])
