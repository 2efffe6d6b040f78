"""Terminal tables (rich): a report `Section` as a table with graded cells coloured, and a
run's metrics."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from triptych.report.sections import Section

STYLES = {"ok": "green", "warn": "yellow", "bad": "red"}


def section_table(section: Section) -> Table:
    """The section's table; graded cells coloured green / yellow / red."""
    t = Table(title=section.title)
    for h in section.header:
        t.add_column(h, no_wrap=True)
    for row in section.rows:
        t.add_row(*[f"[{STYLES[c.grade]}]{c.text}[/]" if c.grade else c.text for c in row])
    return t


def metrics_table(title: str, metrics: dict[str, Any]) -> Table:
    """A two-column table of one run's metrics (floats to 5 significant digits)."""
    t = Table(title=title)
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in metrics.items():
        t.add_row(k, f"{v:.5g}" if isinstance(v, float) else str(v))
    return t
