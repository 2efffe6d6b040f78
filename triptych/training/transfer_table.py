"""The transfer table: target test accuracy for scratch, each freeze policy and an
autoencoder-initialised backbone, at k labelled examples per class, mean ± std over seeds,
per framework, for the lecture's two variations:

* ``task``: same domain, different task: digits 0-4 (source) -> digits 5-9 (target);
* ``domain``: different domain, same task: clean digits -> inverted digits (1 - x), 0-9.

The source classifier (and the conv autoencoder, trained on every training digit without
labels) is trained once per framework; every cell fine-tunes a fresh copy for the same
number of steps on the same k-per-class subset (drawn with the seed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from triptych.common import data as D
from triptych.training import transfer as T

VARIANTS = ("scratch", "head", "most", "few", "none", "auto", "ae")


@dataclass(frozen=True)
class TableConfig:
    """``ks`` labels per class (None = all); steps of fine-tuning and of pretraining."""

    ks: tuple[int | None, ...] = (1, 5, 10, None)
    seeds: tuple[int, ...] = (0, 1, 2)
    variations: tuple[str, ...] = ("task", "domain")
    variants: tuple[str, ...] = VARIANTS
    steps: int = 200
    source_steps: int = 400
    ae_steps: int = 600


QUICK = TableConfig(
    ks=(5, None),
    seeds=(0,),
    variants=("scratch", "head", "none", "ae"),
    steps=120,
    source_steps=250,
    ae_steps=300,
)


def _invert(data: D.Dataset) -> D.Dataset:
    return D.Dataset(
        (1.0 - data.x).astype(np.float32), data.y, data.name + "[inverted]", data.classes
    )


def variation_data(variation: str) -> tuple[D.Dataset, D.Dataset, D.Dataset, int]:
    """(source train, target train, target test, target class count)."""
    train, test = D.load_digits().split(0.2, seed=0)
    if variation == "task":
        return (
            train.filter_classes(range(5)),
            train.filter_classes(range(5, 10)),
            test.filter_classes(range(5, 10)),
            5,
        )
    if variation == "domain":
        return train, _invert(train), _invert(test), 10
    raise ValueError(f"unknown variation {variation!r}; allowed: task, domain")


def run_table(
    frameworks: list[str],
    config: TableConfig = TableConfig(),
    on_cell: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every cell of the table; ``on_cell(label)`` after each (progress bars)."""
    import triptych

    train_all, _ = D.load_digits().split(0.2, seed=0)
    results: dict[str, Any] = {"config": config.__dict__, "cells": {}}
    for fw in frameworks:
        ae = triptych.create("conv_autoencoder", framework=fw, seed=0)
        ae.fit(train_all, steps=config.ae_steps, progress=False)
        ae_weights = ae.get_weights()
        for variation in config.variations:
            source, target, test, n_classes = variation_data(variation)
            src = triptych.create(
                "classifier", framework=fw, seed=0, num_classes=len(source.classes)
            )
            src.fit(source, steps=config.source_steps, progress=False)
            src_weights = src.get_weights()
            for k in config.ks:
                for variant in config.variants:
                    accs = []
                    for seed in config.seeds:
                        data = target.per_class(k, seed=seed) if k else target
                        init = {"scratch": None, "ae": ae_weights}.get(variant, src_weights)
                        model = T.make_target_model(fw, n_classes, seed, init)
                        policy = "none" if variant in ("scratch", "ae") else variant
                        T.fine_tune(model, data, policy, k or float("inf"), config.steps, seed)
                        accs.append(T.accuracy(model, test))
                    key = f"{fw}|{variation}|{k or 'all'}|{variant}"
                    results["cells"][key] = {
                        "mean": float(np.mean(accs)),
                        "std": float(np.std(accs)),
                        "runs": accs,
                    }
                    if on_cell is not None:
                        on_cell(key)
    return results


def cell_count(frameworks: list[str], config: TableConfig) -> int:
    return len(frameworks) * len(config.variations) * len(config.ks) * len(config.variants)


def markdown(results: dict[str, Any]) -> str:
    """One table per (framework, variation): rows k, columns variants, mean ± std; the best
    transfer variant per row in bold, with its margin over scratch."""
    cells = results["cells"]
    keys = [k.split("|") for k in cells]
    fws = list(dict.fromkeys(k[0] for k in keys))
    variations = list(dict.fromkeys(k[1] for k in keys))
    ks = list(dict.fromkeys(k[2] for k in keys))
    variants = list(dict.fromkeys(k[3] for k in keys))
    lines: list[str] = []
    for fw in fws:
        for variation in variations:
            title = {
                "task": "same domain, different task: digits 0-4 -> 5-9",
                "domain": "different domain, same task: digits -> inverted digits",
            }
            lines += [
                f"### {fw}: {title.get(variation, variation)}",
                "",
                "| k per class | " + " | ".join(variants) + " | best transfer vs scratch |",
                "|---" * (len(variants) + 2) + "|",
            ]
            for k in ks:
                row = {v: cells[f"{fw}|{variation}|{k}|{v}"] for v in variants}
                transfer = {v: c for v, c in row.items() if v != "scratch"}
                best = max(transfer, key=lambda v: transfer[v]["mean"])
                margin = transfer[best]["mean"] - row.get("scratch", {"mean": np.nan})["mean"]
                shown = [
                    (
                        f"**{c['mean']:.3f} ± {c['std']:.3f}**"
                        if v == best
                        else f"{c['mean']:.3f} ± {c['std']:.3f}"
                    )
                    for v, c in row.items()
                ]
                lines.append(f"| {k} | " + " | ".join(shown) + f" | {best} {margin:+.3f} |")
            lines.append("")
    return "\n".join(lines)
