"""The tour's typed results: one row model that the terminal tables, report.md and
report.html all render, and that ``results.json`` serialises. Paths are relative to the run
directory, so the results stay true when the run directory is renamed into place."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from triptych.training.suite import AutoencoderPart, GanPart
from triptych.training.transfer_table import TransferTable
from triptych.verify.checks import ParityReport


def relative_report(report: ParityReport, root: Path) -> ParityReport:
    """``report`` with every file path made relative to ``root``."""

    def rel(path: str | None) -> str | None:
        return None if path is None else os.path.relpath(path, root)

    checks = [
        replace(c, a=replace(c.a, file=rel(c.a.file)), b=replace(c.b, file=rel(c.b.file)))
        for c in report.checks
    ]
    files = {fw: {n: str(rel(p)) for n, p in nets.items()} for fw, nets in report.files.items()}
    return replace(report, checks=checks, files=files)


@dataclass
class ParityRow:
    """One zoo model's parity: the report (its checks carry the numbers), the safetensors
    round trip into every framework, and the training-parity plot when level 4 ran."""

    model: str
    params: int
    report: ParityReport
    round_trip_exact: bool
    plot: str | None = None

    @property
    def passed(self) -> bool:
        return bool(self.report) and self.round_trip_exact

    def worst(self, level: int) -> float:
        return self.report.worst(level)

    @property
    def training_rel(self) -> float | None:
        """Worst relative per-step loss difference of level 4, None when it did not run."""
        losses = [c.max_rel for c in self.report.level(4) if c.network == "loss"]
        return max(losses) if losses else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "params": self.params,
            "passed": self.passed,
            "round_trip_exact": self.round_trip_exact,
            "plot": self.plot,
            "parity": self.report.to_dict(),
        }


@dataclass
class ServingResult:
    """One tritonclient request to the served GAN generator; ``skipped`` says why not."""

    model: str = ""
    url: str = ""
    output_shape: list[int] = field(default_factory=list)
    exact: bool | None = None
    latency_ms: float | None = None
    skipped: str | None = None


@dataclass
class TourResults:
    started: str
    frameworks: list[str]
    absent: dict[str, str]
    mode: str
    machine: dict[str, Any] = field(default_factory=dict)
    parity: list[ParityRow] = field(default_factory=list)
    autoencoders: AutoencoderPart | None = None
    gan: GanPart | None = None
    transfer: TransferTable | None = None
    serving: ServingResult = field(default_factory=ServingResult)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.parity) and self.serving.exact is not False

    def to_dict(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "passed": self.passed,
            "frameworks": self.frameworks,
            "absent": self.absent,
            "mode": self.mode,
            "machine": self.machine,
            "parity": [r.to_dict() for r in self.parity],
            "autoencoders": None if self.autoencoders is None else self.autoencoders.to_dict(),
            "gan": None if self.gan is None else self.gan.to_dict(),
            "transfer": None if self.transfer is None else self.transfer.to_dict(),
            "serving": asdict(self.serving),
        }
