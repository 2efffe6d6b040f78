"""The Dataset type, the pixel scales and the seeded (optionally stratified) splits."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from triptych.common.datasets.errors import DataError

SCALES = ("unit", "symmetric")
"""Pixel ranges: ``"unit"`` -> [0, 1] (autoencoders, sigmoid output), ``"symmetric"`` ->
[-1, 1] (GAN, tanh output)."""


def rescale(x01: np.ndarray, scale: str) -> np.ndarray:
    """Pixels in [0, 1] -> float32 in the range named by ``scale`` (see SCALES); a float32
    input is returned as it is for "unit" (no copy)."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; allowed: {', '.join(SCALES)}")
    x = x01.astype(np.float32, copy=False)
    return x if scale == "unit" else (x * 2.0 - 1.0).astype(np.float32)


def _check_fraction(test_fraction: float) -> None:
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be in (0, 1), got {test_fraction}")


@dataclass(frozen=True)
class Dataset:
    """Images ``x`` (N, C, H, W) float32 and integer labels ``y`` (N,) or None."""

    x: np.ndarray
    y: np.ndarray | None
    name: str = "data"
    classes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.x.ndim != 4:
            raise DataError(f"{self.name}: images must be (N, C, H, W), got {self.x.shape}")
        if self.y is not None and len(self.y) != len(self.x):
            raise DataError(f"{self.name}: {len(self.x)} images but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image, as the data has it."""
        return tuple(self.x.shape[1:])  # type: ignore[return-value]

    def subset(self, index: np.ndarray, name: str | None = None) -> Dataset:
        return replace(
            self,
            x=self.x[index],
            y=None if self.y is None else self.y[index],
            name=name or self.name,
        )

    def filter_classes(self, classes: list[int] | tuple[int, ...]) -> Dataset:
        """Keep only ``classes`` and relabel them 0..len(classes)-1 in the order given."""
        if self.y is None:
            raise DataError(f"{self.name}: has no labels to filter on")
        classes = tuple(int(c) for c in classes)
        present = set(np.unique(self.y).tolist())
        missing = [c for c in classes if c not in present]
        if missing:
            raise DataError(
                f"{self.name}: classes {missing} not present; present: {sorted(present)}"
            )
        keep = np.isin(self.y, classes)
        lookup = {c: i for i, c in enumerate(classes)}
        y = np.array([lookup[int(v)] for v in self.y[keep]], dtype=np.int64)
        return Dataset(self.x[keep], y, f"{self.name}[{','.join(map(str, classes))}]", classes)

    def per_class(self, k: int, seed: int = 0) -> Dataset:
        """k labelled examples per class, drawn with ``seed`` (ordered by class, then index)."""
        if self.y is None:
            raise DataError(f"{self.name}: has no labels to subsample")
        if k < 1:
            raise DataError(f"labels per class must be >= 1, got {k}")
        rng = np.random.Generator(np.random.PCG64(seed))
        picks = []
        for c in np.unique(self.y):
            idx = np.flatnonzero(self.y == c)
            if len(idx) < k:
                raise DataError(f"{self.name}: class {c} has {len(idx)} examples, asked for {k}")
            picks.append(np.sort(rng.choice(idx, size=k, replace=False)))
        return self.subset(np.concatenate(picks), f"{self.name}[k={k}]")

    def split(
        self, test_fraction: float = 0.2, seed: int = 0, stratified: bool = False
    ) -> tuple[Dataset, Dataset]:
        """A seeded split into (train, test), each in the original order.

        Default: one PCG64(seed) shuffle, the first round(N * test_fraction) (at least 1) go to
        test. ``stratified=True``: per class (ascending), round(n_c * test_fraction) go to
        test, drawn from one PCG64(seed) stream, so every class keeps its share.
        """
        _check_fraction(test_fraction)
        if stratified:
            test_index = self._stratified_test_index(test_fraction, seed)
            train_index = np.setdiff1d(np.arange(len(self)), test_index)
        else:
            order = np.random.Generator(np.random.PCG64(seed)).permutation(len(self))
            n_test = max(1, round(len(self) * test_fraction))
            test_index, train_index = np.sort(order[:n_test]), np.sort(order[n_test:])
        return (
            self.subset(train_index, f"{self.name}/train"),
            self.subset(test_index, f"{self.name}/test"),
        )

    def _stratified_test_index(self, test_fraction: float, seed: int) -> np.ndarray:
        if self.y is None:
            raise DataError(f"{self.name}: a stratified split needs labels")
        rng = np.random.Generator(np.random.PCG64(seed))
        picks = []
        for c in np.unique(self.y):
            members = np.flatnonzero(self.y == c)
            picks.append(rng.permutation(members)[: round(len(members) * test_fraction)])
        test_index = np.sort(np.concatenate(picks))
        if len(test_index) == 0:
            raise DataError(
                f"{self.name}: a stratified split with test_fraction {test_fraction} puts no "
                "example of any class in test (too few per class)"
            )
        return test_index
