"""The zoo's registry: `register` (a decorator for spec factories) and the entries.

The factories (`triptych.common.zoo_models`) register themselves here; `triptych.common.zoo`
imports both and is what the rest of triptych uses.
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
