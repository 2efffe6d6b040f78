"""The transfer table: target test accuracy for scratch, each freeze policy and an
autoencoder-initialised backbone, at k labelled examples per class, mean ± std over seeds,
per framework, for the lecture's two variations:

* ``task``: same domain, different task: digits 0-4 (source) -> digits 5-9 (target);
* ``domain``: different domain, same task: clean digits -> inverted digits (1 - x), 0-9;
* on real 28×28 data (`MNIST_VARIATIONS`): ``mnist_task`` (MNIST-5k 0-4 -> 5-9),
  ``mnist_to_digits`` (MNIST-5k -> the UCI digits resized to 28×28) and ``digits_to_mnist``.

The source classifier (and the conv autoencoder, trained on every training digit without
labels) is trained once per framework; every cell fine-tunes a fresh copy for the same
number of steps on the same k-per-class subset (drawn with the seed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from triptych.common import data as D
from triptych.model import create
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


#: the variations on real 28×28 data (MNIST-5k's fixed 4,000/1,000 split; the UCI digits
#: resized to 28×28, ``digits28``, with the 80/20 split)
MNIST_VARIATIONS = ("mnist_task", "mnist_to_digits", "digits_to_mnist")
VARIATIONS = ("task", "domain", *MNIST_VARIATIONS)


def _split28(source: str) -> tuple[D.Dataset, D.Dataset]:
    return D.load_train_test(source, "unit")


def variation_data(variation: str) -> tuple[D.Dataset, D.Dataset, D.Dataset, int]:
    """(source train, target train, target test, target class count).

    * ``mnist_task``: MNIST-5k digits 0-4 -> 5-9 (same domain, different task);
    * ``mnist_to_digits``: MNIST-5k -> UCI digits at 28×28, 0-9 (different domain, same task);
    * ``digits_to_mnist``: the reverse.
    """
    if variation == "mnist_task":
        train, test = _split28("mnist")
        return (
            train.filter_classes(range(5)),
            train.filter_classes(range(5, 10)),
            test.filter_classes(range(5, 10)),
            5,
        )
    if variation in ("mnist_to_digits", "digits_to_mnist"):
        names = ("mnist", "digits28") if variation == "mnist_to_digits" else ("digits28", "mnist")
        source, (target, test) = _split28(names[0])[0], _split28(names[1])
        return source, target, test, 10
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
    raise ValueError(f"unknown variation {variation!r}; allowed: {', '.join(VARIATIONS)}")


def pretraining_images(variation: str) -> D.Dataset:
    """The unlabelled images the ``ae`` variant's conv autoencoder trains on: every training
    image of the source domain (8×8 digits; MNIST-5k; digits28)."""
    if variation == "digits_to_mnist":
        return _split28("digits28")[0]
    if variation in MNIST_VARIATIONS:
        return _split28("mnist")[0]
    return D.load_digits().split(0.2, seed=0)[0]


@dataclass(frozen=True)
class TransferCell:
    """Target test accuracy of one (framework, variation, k, variant), one run per seed."""

    framework: str
    variation: str
    k: int | None  # labels per class; None = every label
    variant: str
    runs: tuple[float, ...]

    @property
    def k_label(self) -> str:
        return "all" if self.k is None else str(self.k)

    @property
    def mean(self) -> float:
        return float(np.mean(self.runs))

    @property
    def std(self) -> float:
        return float(np.std(self.runs))

    @property
    def label(self) -> str:
        return f"{self.framework} {self.variation} k={self.k_label} {self.variant}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mean": self.mean, "std": self.std}


@dataclass
class TransferTable:
    """Every cell of the table and the configuration that produced it."""

    config: TableConfig
    cells: list[TransferCell] = field(default_factory=list)

    def cell(self, framework: str, variation: str, k: int | None, variant: str) -> TransferCell:
        for c in self.cells:
            if (c.framework, c.variation, c.k, c.variant) == (framework, variation, k, variant):
                return c
        raise KeyError(f"no transfer cell {framework} {variation} k={k} {variant}")

    def to_dict(self) -> dict[str, Any]:
        return {"config": asdict(self.config), "cells": [c.to_dict() for c in self.cells]}


def run_table(
    frameworks: list[str],
    config: TableConfig = TableConfig(),
    on_cell: Callable[[TransferCell], None] | None = None,
) -> TransferTable:
    """Every cell of the table; ``on_cell(cell)`` after each (progress bars)."""
    table = TransferTable(config)
    for fw in frameworks:
        ae_cache: dict[str, dict[str, np.ndarray]] = {}
        for variation in config.variations:
            source, target, test, n_classes = variation_data(variation)
            shape = target.image_shape
            if "ae" in config.variants:
                images = pretraining_images(variation)
                if images.name not in ae_cache:  # one autoencoder per source domain
                    ae = create("conv_autoencoder", framework=fw, seed=0, image_shape=shape)
                    ae.fit(images, steps=config.ae_steps, progress=False)
                    ae_cache[images.name] = ae.get_weights()
                ae_weights = ae_cache[images.name]
            src = create(
                "classifier", framework=fw, seed=0, num_classes=len(source.classes),
                image_shape=source.image_shape,
            )  # fmt: skip
            src.fit(source, steps=config.source_steps, progress=False)
            src_weights = src.get_weights()
            for k in config.ks:
                for variant in config.variants:
                    accs = []
                    for seed in config.seeds:
                        data = target.per_class(k, seed=seed) if k else target
                        if variant == "ae":
                            init = ae_weights
                        else:
                            init = None if variant == "scratch" else src_weights
                        model = T.make_target_model(fw, n_classes, seed, init, shape)
                        policy = "none" if variant in ("scratch", "ae") else variant
                        T.fine_tune(model, data, policy, k or float("inf"), config.steps, seed)
                        accs.append(T.accuracy(model, test))
                    cell = TransferCell(fw, variation, k, variant, tuple(accs))
                    table.cells.append(cell)
                    if on_cell is not None:
                        on_cell(cell)
    return table


def cell_count(frameworks: list[str], config: TableConfig) -> int:
    return len(frameworks) * len(config.variations) * len(config.ks) * len(config.variants)


TITLES = {
    "task": "same domain, different task: digits 0-4 -> 5-9",
    "domain": "different domain, same task: digits -> inverted digits",
    "mnist_task": "same domain, different task: MNIST-5k digits 0-4 -> 5-9",
    "mnist_to_digits": "different domain, same task: MNIST-5k -> UCI digits at 28×28",
    "digits_to_mnist": "different domain, same task: UCI digits at 28×28 -> MNIST-5k",
}


def markdown(table: TransferTable) -> str:
    """One table per (framework, variation): rows k, columns variants, mean ± std; the best
    transfer variant per row in bold, with its margin over scratch."""
    fws = list(dict.fromkeys(c.framework for c in table.cells))
    variations = list(dict.fromkeys(c.variation for c in table.cells))
    ks = list(dict.fromkeys(c.k for c in table.cells))
    variants = list(dict.fromkeys(c.variant for c in table.cells))
    lines: list[str] = []
    for fw in fws:
        for variation in variations:
            lines += [
                f"### {fw}: {TITLES.get(variation, variation)}",
                "",
                "| k per class | " + " | ".join(variants) + " | best transfer vs scratch |",
                "|---" * (len(variants) + 2) + "|",
            ]
            for k in ks:
                row = {v: table.cell(fw, variation, k, v) for v in variants}
                transfer = {v: c for v, c in row.items() if v != "scratch"}
                best = max(transfer, key=lambda v: transfer[v].mean)
                scratch = row["scratch"].mean if "scratch" in row else float("nan")
                margin = transfer[best].mean - scratch
                shown = [
                    f"**{c.mean:.3f} ± {c.std:.3f}**"
                    if v == best
                    else f"{c.mean:.3f} ± {c.std:.3f}"
                    for v, c in row.items()
                ]
                label = "all" if k is None else str(k)
                lines.append(f"| {label} | " + " | ".join(shown) + f" | {best} {margin:+.3f} |")
            lines.append("")
    return "\n".join(lines)
