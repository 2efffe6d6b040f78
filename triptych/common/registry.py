"""Converter registries: one function per layer type (or ONNX op), registered with a decorator.

Every backend keeps one `ConverterRegistry` of spec-layer converters (in
``frameworks/<fw>/layers/``, one module per layer family); the ONNX importer keeps one of
op converters with the opset range each supports. Looking up what is not registered is a
`MissingConverter` naming the owner and the layer (or op), never an ``isinstance``
fall-through::

    CONVERTERS = ConverterRegistry("torch", "layer")

    @CONVERTERS.register(S.Conv2d)
    def conv2d(layer: S.Conv2d, ctx: BuildContext) -> nn.Module: ...

    CONVERTERS.lookup(layer)(layer, ctx)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class MissingConverter(NotImplementedError):
    """``owner`` (a backend, or the ONNX importer) has no converter for ``item`` (a layer
    kind or an ONNX op); the message names both and what is registered."""

    def __init__(self, owner: str, what: str, item: str, known: Iterable[str], hint: str = ""):
        self.owner, self.item = owner, item
        known = sorted(known)
        super().__init__(
            f"{owner} has no converter for {what} {item!r}{hint}; it converts: "
            f"{', '.join(known) if known else 'nothing'}"
        )


def kind_of(key: Any) -> str:
    """A registry key's display name: a layer class's ``kind`` or the key itself."""
    return str(getattr(key, "kind", key))


class ConverterRegistry(Generic[F]):
    """Converters of one ``owner`` (e.g. "torch", "the ONNX importer") for items of one
    ``what`` ("layer", "op"), keyed by layer class (its subclasses inherit the converter)
    or by name."""

    def __init__(self, owner: str, what: str = "layer") -> None:
        self.owner, self.what = owner, what
        self.converters: dict[Any, F] = {}

    def register(self, *keys: Any) -> Callable[[F], F]:
        """Decorator registering the function for every one of ``keys``; registering a key
        twice is an error (two converters for one layer would depend on import order)."""

        def add(fn: F) -> F:
            for key in keys:
                if key in self.converters:
                    raise ValueError(
                        f"{self.owner}: {self.what} {kind_of(key)!r} already has converter "
                        f"{self.converters[key].__qualname__}"
                    )
                self.converters[key] = fn
            return fn

        return add

    def find(self, key: Any) -> F | None:
        """The converter for ``key`` (a class: its own or its nearest registered base's; a
        name: exact), or None."""
        if isinstance(key, type):
            for cls in key.__mro__:
                if cls in self.converters:
                    return self.converters[cls]
            return None
        return self.converters.get(key)

    def lookup(self, item: Any, hint: str = "") -> F:
        """The converter for ``item`` (an instance of a registered class, or a key);
        `MissingConverter` naming the owner and the item when there is none."""
        key = item if isinstance(item, type | str) else type(item)
        fn = self.find(key)
        if fn is None:
            raise MissingConverter(
                self.owner, self.what, kind_of(key), map(kind_of, self.converters), hint
            )
        return fn

    def kinds(self) -> set[str]:
        """The display names of every registered key."""
        return {kind_of(k) for k in self.converters}

    def missing(self, keys: Iterable[Any]) -> list[str]:
        """Of ``keys``, the display names that have no converter here."""
        return sorted(kind_of(k) for k in keys if self.find(k) is None)

    def __contains__(self, key: Any) -> bool:
        return self.find(key) is not None
