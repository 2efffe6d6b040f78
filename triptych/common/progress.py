"""A terminal progress bar for long work (training steps): rich's, with the last record's
losses beside it."""

from __future__ import annotations

from typing import Any

#: the record fields a bar shows, in this order when present
SHOWN = ("loss", "rec", "d_loss", "g_loss", "acc_real", "acc_fake")


class StepBar:
    """A bar of ``total`` steps starting at ``start``, labelled ``label``."""

    def __init__(self, total: int, start: int, label: str) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        from triptych.common.console import console

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[metrics]}"),
            TimeRemainingColumn(),
            console=console(),
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task(label, total=total, completed=start, metrics="")

    def update(self, n: int, record: dict[str, Any] | None) -> None:
        """Advance by ``n`` steps; with a record, show its metrics."""
        if record is None:
            self.progress.update(self.task, advance=n)
            return
        shown = " ".join(f"{k} {v:.4f}" for k, v in record.items() if k in SHOWN)
        self.progress.update(self.task, advance=n, metrics=shown)

    def close(self) -> None:
        self.progress.stop()


def step_bar(enabled: bool, total: int, start: int, label: str) -> StepBar | None:
    """A `StepBar` when ``enabled``, else None."""
    return StepBar(total, start, label) if enabled else None
