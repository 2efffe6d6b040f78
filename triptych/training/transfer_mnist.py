"""The transfer table on real 28×28 data (`transfer_table.MNIST_VARIATIONS`), written to
``benchmarks/transfer_mnist.md`` and ``.json``: target test accuracy per freeze policy and k
labels per class, mean ± std over seeds, per framework.

Run ``python -m triptych.training.transfer_mnist [-f FW ...] [--seeds 0 1 2]``; the table of
each framework is saved as soon as it is done and kept when the command runs again.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from triptych.common.weights import write_text_atomic
from triptych.frameworks.base import available
from triptych.training.transfer_table import (
    MNIST_VARIATIONS,
    TableConfig,
    TransferCell,
    TransferTable,
    markdown,
    run_table,
)

#: sized for 2 CPU cores: k = 1, 5, all; the freeze policies without `most`/`auto` (auto is
#: `none` here, see AUTO_RULE) and without the autoencoder start; 80 fine-tuning steps
MNIST_CONFIG = TableConfig(
    ks=(1, 5, None),
    seeds=(0, 1, 2),
    variations=MNIST_VARIATIONS,
    variants=("scratch", "head", "few", "none"),
    steps=80,
    source_steps=250,
    ae_steps=300,
)


def head_verdicts(table: TransferTable) -> list[str]:
    """For each (framework, variation) and the smallest k: ``head`` against the best other
    freeze policy and against scratch (the lecture: very little target data -> head only)."""
    lines = []
    for fw in dict.fromkeys(c.framework for c in table.cells):
        for variation in dict.fromkeys(c.variation for c in table.cells):
            for k in [k for k in table.config.ks if k is not None][:2]:
                row = {c.variant: c for c in table.cells
                       if (c.framework, c.variation, c.k) == (fw, variation, k)}  # fmt: skip
                others = {v: c.mean for v, c in row.items() if v not in ("head", "scratch")}
                best = max(others, key=lambda v: others[v])
                lines.append(
                    f"- {fw}, {variation}, k={k}: head {row['head'].mean:.3f} vs best "
                    f"fine-tuning ({best}) {others[best]:.3f} vs scratch "
                    f"{row['scratch'].mean:.3f}"
                )
    return lines


def table_from_dict(d: dict[str, Any]) -> TransferTable:
    config = d["config"]
    config = TableConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
    cells = [
        TransferCell(c["framework"], c["variation"], c["k"], c["variant"], tuple(c["runs"]))
        for c in d["cells"]
    ]
    return TransferTable(config, cells)


def _framework(table: TransferTable) -> str | None:
    return table.cells[0].framework if table.cells else None


def merge_seeds(old: TransferTable, new: TransferTable) -> TransferTable:
    """One table with the seeds of both: ``new`` ran other seeds of the same cells (same
    framework, variations, k, variants, steps); each cell's runs are ``old``'s then
    ``new``'s, in the order of the merged ``config.seeds``."""
    same = ("ks", "variations", "variants", "steps", "source_steps")
    differ = [f for f in same if getattr(old.config, f) != getattr(new.config, f)]
    if differ:
        raise ValueError(f"cannot merge transfer tables that differ in {', '.join(differ)}")
    overlap = set(old.config.seeds) & set(new.config.seeds)
    if overlap:
        raise ValueError(f"seeds {sorted(overlap)} are in both tables; merge only new seeds")
    merged = TransferTable(replace(old.config, seeds=old.config.seeds + new.config.seeds))
    for cell in old.cells:
        extra = new.cell(cell.framework, cell.variation, cell.k, cell.variant)
        merged.cells.append(replace(cell, runs=cell.runs + extra.runs))
    return merged


#: what the published tables say (written from the measured numbers, kept with the render)
ANSWER = """## Does "train only the head when the target data is very small" hold here?

Every framework ran 3 seeds; the 36 cell means agree across torch, tensorflow and mxnet within
0.010 (median 0.002), so the answer is the same in all three.

**On the same domain, yes.** MNIST-5k 0-4 -> 5-9 with 1 or 5 labels per class: head-only is
the best policy in all three frameworks: k = 1, head 0.533-0.537 against 0.502-0.511 for the
best fine-tuning policy and 0.439 from scratch; k = 5, head 0.794-0.796 against 0.775-0.778
and 0.687-0.689. That is +9 to +11 points over scratch; its margin over fine-tuning (1.7 to
3.1 points) is within one standard deviation across seeds (0.035-0.058).
**Across domains, it ties or loses** against fine-tuning a few layers: MNIST -> UCI digits at
28×28, head 0.664-0.670 vs `few` 0.657-0.668 at k = 1 (+9 over scratch) and 0.905-0.908 vs
0.905-0.910 at k = 5; UCI digits -> MNIST, head is 1 to 2.4 points below `few` (k = 1: 0.386-
0.388 vs 0.409-0.410; k = 5: 0.658-0.663 vs 0.670-0.672), though above scratch. With every
label, head-only is the worst policy (0.906-0.909 vs 0.960-0.961 on UCI -> MNIST). On the
8×8 digits (benchmarks/transfer.md) head-only lost everywhere: a backbone trained on 4,000
real 28×28 digits carries features worth freezing for a new task in its own domain; for a new
domain, the lowest block must adapt (`few`).

Not run for lack of time on 2 shared cores: `most`, `auto` (= `none` under the current
AUTO_RULE) and the autoencoder start (`ae`, supported by the machinery), k = 10; 80
fine-tuning steps instead of 200.
"""


def render(tables: list[TransferTable]) -> str:
    lines = [
        "# Transfer learning on real 28×28 digits",
        "",
        "Generated by `python -m triptych.training.transfer_mnist`. Target test accuracy, "
        "mean ± std over seeds (the k-per-class subset and the new head drawn with the "
        "seed); MNIST-5k: its fixed 4,000/1,000 split; digits28: the UCI digits resized to "
        "28×28, 80/20 split. The source classifier is trained once per framework and "
        "variation; every cell fine-tunes a fresh copy for the same number of steps "
        "(Adam 1e-3, batch ≤ 64).",
        "",
    ]
    for t in tables:
        c = t.config
        ks = ", ".join("all" if k is None else str(k) for k in c.ks)
        fws = ", ".join(dict.fromkeys(cell.framework for cell in t.cells))
        lines += [
            f"**{fws}**: seeds {list(c.seeds)}, k = {ks}, {c.steps} fine-tuning steps, "
            f"{c.source_steps} source steps.",
            "",
            markdown(t),
            "Head only at very small k:",
            "",
            *head_verdicts(t),
            "",
        ]
    return "\n".join([*lines, ANSWER])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-f", "--framework", action="append", help="default: every installed")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(MNIST_CONFIG.seeds))
    parser.add_argument("--steps", type=int, default=MNIST_CONFIG.steps)
    parser.add_argument("--bench", default="benchmarks", help="where the .md/.json go")
    args = parser.parse_args(argv)
    config = replace(MNIST_CONFIG, seeds=tuple(args.seeds), steps=args.steps)
    json_path = Path(args.bench) / "transfer_mnist.json"
    saved = json.loads(json_path.read_text()) if json_path.exists() else {"tables": []}
    tables = [table_from_dict(t) for t in saved["tables"]]
    for fw in args.framework or available():
        index = next((i for i, t in enumerate(tables) if _framework(t) == fw), None)
        have = set(tables[index].config.seeds) if index is not None else set()
        missing = tuple(s for s in config.seeds if s not in have)
        if not missing:
            continue
        part = run_table([fw], replace(config, seeds=missing))
        if index is None:
            tables.append(part)
        else:
            tables[index] = merge_seeds(tables[index], part)
        data = {"tables": [t.to_dict() for t in tables]}
        write_text_atomic(json_path, json.dumps(data, indent=1))
        write_text_atomic(json_path.with_suffix(".md"), render(tables))
        print(f"{fw}: done", flush=True)


if __name__ == "__main__":
    main()
