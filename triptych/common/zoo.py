"""The model zoo: name -> spec factory (shape-generic) + description.

Every factory takes ``image_shape`` (C, H, W; default the bundled digits' (1, 8, 8)) plus its
own keyword arguments and returns a `ModelSpec`; each entry carries its default `Recipe`
(``steps`` for a full run, ``quick_steps`` for the tour).
"""

from __future__ import annotations

from triptych.common import spec as S

# the factories register themselves on import: the lecture's models first, then the graphs
from triptych.common import zoo_models  # noqa: F401

# isort: split
from triptych.common import (
    zoo_graphs,  # noqa: F401
    zoo_mobile,  # noqa: F401
    zoo_vit,  # noqa: F401
)
from triptych.common.zoo_registry import _ZOO, DIGITS_SHAPE, ZooEntry, register

__all__ = ["DIGITS_SHAPE", "ZooEntry", "create_spec", "entry", "names", "register"]


def names() -> list[str]:
    return list(_ZOO)


def entry(name: str) -> ZooEntry:
    if name not in _ZOO:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(_ZOO)}")
    return _ZOO[name]


def create_spec(name: str, **kwargs: object) -> S.ModelSpec:
    """The spec of zoo model ``name``; unknown keyword arguments raise `TypeError`."""
    return entry(name).factory(**kwargs)
