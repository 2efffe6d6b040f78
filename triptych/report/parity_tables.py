"""Terminal tables (rich) of a `ParityReport`, rendered from its `Check` objects."""

from __future__ import annotations

from rich.table import Table

from triptych.verify.checks import Check, ParityReport


def colour(value: float) -> str:
    """An error magnitude coloured green (<= 1e-6), yellow (<= 1e-5) or red."""
    style = "green" if value <= 1e-6 else "yellow" if value <= 1e-5 else "red"
    return f"[{style}]{value:.2e}[/]"


def _oracle_cells(c: Check) -> list[str]:
    """Both sides' distances to their float64 builds and the derived bound ("-" without)."""
    if c.oracle is None:
        return ["-", "-", f"{c.comparison.atol:.1e} (given)"]
    return [f"{c.oracle.a:.1e}", f"{c.oracle.b:.1e}", f"{c.oracle.bound:.1e}"]


def _result(c: Check) -> str:
    if c.passed:
        return "[green]ok[/]"
    return "[red]FAIL[/]" if c.gating else "[yellow]differs (reported apart)[/]"


def checks_table(report: ParityReport) -> Table:
    """One row per check of levels 1-3: max |diff|, each side's distance to its float64
    build, the derived bound (the largest element's) and the result."""
    t = Table(title=f"parity {report.model}: levels 1-3 (max |diff| per check)")
    cols = ("level", "network", "batch", "a", "b", "max |diff|", "a↔f64", "b↔f64", "bound")
    for col in (*cols, "result"):
        t.add_column(col, no_wrap=True)
    t.caption = (
        "a↔f64, b↔f64: max |x - x64| against the same framework's float64 build; bound: "
        "2·(|a - a64| + |b - b64|) + 4 ulps per element (docs/parity.md)"
    )
    for c in report.checks:
        if c.level > 3:
            continue
        o = c.comparison.outputs[0] if c.comparison.outputs else None
        t.add_row(
            f"L{c.level}",
            c.network,
            str(c.batch),
            c.a.label,
            c.b.label,
            colour(c.max_abs) if o else "-",
            *_oracle_cells(c),
            _result(c),
        )
    return t


def matrix_table(report: ParityReport) -> Table:
    """framework × framework: worst max |diff| over networks and batches, native / ONNX."""
    fws = report.frameworks
    t = Table(title=f"{report.model}: cross-framework worst max |diff|, native / ONNX")
    t.add_column("")
    for fw in fws:
        t.add_column(fw, no_wrap=True)
    worst: dict[tuple[str | None, str | None, str], float] = {}
    for c in report.level(3):
        for key in (
            (c.a.framework, c.b.framework, c.a.kind),
            (c.b.framework, c.a.framework, c.a.kind),
        ):
            worst[key] = max(worst.get(key, 0.0), c.max_abs)
    for a in fws:
        cells = [
            "·"
            if a == b
            else f"{colour(worst.get((a, b, 'native'), float('nan')))} / "
            f"{colour(worst.get((a, b, 'ort'), float('nan')))}"
            for b in fws
        ]
        t.add_row(a, *cells)
    return t


def training_table(report: ParityReport) -> Table:
    """Level 4 per framework pair: loss per step (max relative difference, worst step),
    final weights and BatchNorm statistics (max |diff|)."""
    run = report.training
    t = Table(
        title=f"training parity: {run.steps} {run.optimizer} steps (lr {run.lr}, batch "
        f"{run.batch}, {run.loss}), same weights, same batches"
        + (
            f"; GAN: {report.gan_training.rounds} rounds, {report.gan_training.optimizer} "
            f"lr {report.gan_training.lr}"
            if report.gan_training is not None
            else ""
        )
    )
    cols = ("pair", "what", "max rel diff", "max |diff|", "worst at", "a↔f64", "b↔f64", "bound")
    for col in (*cols, "result"):
        t.add_column(col, no_wrap=True)
    notes = list(dict.fromkeys(c.note for c in report.level(4) if c.note))
    t.caption = " ".join(f"[{i + 1}] {n}." for i, n in enumerate(notes))
    for c in report.level(4):
        o = max(c.comparison.outputs, key=lambda o: o.max_abs, default=None)
        where = "-"
        if o is not None and c.network == "loss":
            rel = run.per_step_rel(c.a.framework, c.b.framework)
            where = f"step {rel.index(max(rel)) + 1}"
        elif o is not None:
            where = o.name
        t.add_row(
            f"{c.a.framework} vs {c.b.framework}",
            c.network + (f" [{notes.index(c.note) + 1}]" if c.note else ""),
            f"{c.max_rel:.2e}",
            f"{c.max_abs:.2e}",
            where,
            *_oracle_cells(c),
            _result(c),
        )
    return t


def drift_table(report: ParityReport) -> Table:
    """Per framework: its float32 training run's distance to its own float64 run (loss,
    relative, at the first, middle and last step), what every level-4 bound is built from."""
    run = report.training
    t = Table(title=f"float32 drift from float64 per framework ({run.steps} steps)")
    marks = sorted({1, max(1, run.steps // 2), run.steps})
    for col in ("framework", *[f"loss step {s}" for s in marks], "worst step"):
        t.add_column(col, no_wrap=True)
    for fw in run.frameworks:
        drift = run.drift(fw)
        worst = max(range(len(drift)), key=drift.__getitem__)
        t.add_row(fw, *[f"{drift[s - 1]:.1e}" for s in marks], f"{drift[worst]:.1e} @ {worst + 1}")
    return t
