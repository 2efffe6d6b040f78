"""The model zoo: name -> spec factory (shape-generic) + description.

Every factory takes ``image_shape`` (C, H, W; default the bundled digits' (1, 8, 8)) plus its
own keyword arguments and returns a `ModelSpec`; each entry carries its default `Recipe`
(``steps`` for a full run, ``quick_steps`` for the tour).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from triptych.common import spec as S
from triptych.common.recipe import Recipe

DIGITS_SHAPE = (1, 8, 8)


@dataclass(frozen=True)
class ZooEntry:
    name: str
    factory: Callable[..., S.ModelSpec]
    description: str
    recipe: Recipe


_ZOO: dict[str, ZooEntry] = {}


def register(name: str, description: str, recipe: Recipe | None = None) -> Callable:
    def wrap(factory: Callable[..., S.ModelSpec]) -> Callable[..., S.ModelSpec]:
        _ZOO[name] = ZooEntry(name, factory, description, recipe or Recipe())
        return factory

    return wrap


def names() -> list[str]:
    return list(_ZOO)


def entry(name: str) -> ZooEntry:
    if name not in _ZOO:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(_ZOO)}")
    return _ZOO[name]


def create_spec(name: str, **kwargs: object) -> S.ModelSpec:
    """The spec of zoo model ``name``; unknown keyword arguments raise `TypeError`."""
    return entry(name).factory(**kwargs)


# the factories register themselves on import; at the end because they import `register`
from triptych.common import zoo_models  # noqa: E402, F401
