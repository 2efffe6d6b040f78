"""The protocol every framework backend implements, and the registry of backends.

Backends live in ``triptych.frameworks.<name>`` and are imported only when asked for, so
``import triptych`` never imports torch, tensorflow or mxnet.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from triptych.common.spec import Network


class FrameworkUnavailable(ImportError):
    """A known framework that is not installed or does not import; names the pip extra."""


@dataclass(frozen=True)
class FrameworkInfo:
    """Static facts about a framework: its canonical name, aliases, import and pip extra."""

    name: str
    aliases: tuple[str, ...]
    import_name: str
    extra: str
    display: str


FRAMEWORKS: dict[str, FrameworkInfo] = {
    "torch": FrameworkInfo("torch", ("pt", "pytorch"), "torch", "torch", "PyTorch"),
    "tensorflow": FrameworkInfo(
        "tensorflow", ("tf", "keras"), "tensorflow", "tensorflow", "TensorFlow/Keras"
    ),
    "mxnet": FrameworkInfo("mxnet", ("mx", "gluon"), "mxnet", "mxnet", "MXNet/Gluon"),
}


class Built(Protocol):
    """A network built natively: ``native`` is the framework's module/model/block."""

    network: Network
    native: Any


class Backend(Protocol):
    """What `triptych.Model` needs from a framework. Arrays in and out are numpy, NCHW."""

    name: str
    bn_running_var: str  # "unbiased" (PyTorch's rule) or "biased"

    def version(self) -> str: ...
    def set_threads(self, n: int) -> None: ...
    def build(self, network: Network) -> Built: ...
    def set_weights(self, built: Built, weights: dict[str, np.ndarray]) -> None: ...
    def get_weights(self, built: Built) -> dict[str, np.ndarray]: ...
    def forward(self, built: Built, x: np.ndarray, training: bool = False) -> np.ndarray: ...
    def count_params(self, built: Built) -> int: ...
    def seed_rng(self, built: list[Built], seed: int) -> None: ...  # Dropout masks
    @property
    def train(self) -> ModuleType: ...  # make_trainer, make_generator_step, ...
    @property
    def export(self) -> ModuleType: ...  # export_network(built, opset, exporter)


def resolve(name: str) -> str:
    """Canonical framework name for a name or alias; `ValueError` listing valid names."""
    key = str(name).strip().lower()
    for info in FRAMEWORKS.values():
        if key == info.name or key in info.aliases:
            return info.name
    valid = ", ".join(f"{i.name} ({'/'.join(i.aliases)})" for i in FRAMEWORKS.values())
    raise ValueError(f"unknown framework {name!r}; valid: {valid}")


_BACKENDS: dict[str, Backend] = {}
_FAILURES: dict[str, str] = {}


def get_backend(name: str) -> Backend:
    """The backend for ``name`` (aliases accepted), importing the framework on first use."""
    fw = resolve(name)
    if fw in _BACKENDS:
        return _BACKENDS[fw]
    info = FRAMEWORKS[fw]
    if importlib.util.find_spec(info.import_name) is None:
        raise FrameworkUnavailable(
            f"{info.display} is not installed; install it with pip install 'triptych[{info.extra}]'"
        )
    try:
        module = importlib.import_module(f"triptych.frameworks.{fw}")
        backend = module.BACKEND
    except Exception as e:  # a broken install: say which and how to fix
        _FAILURES[fw] = f"{type(e).__name__}: {e}"
        raise FrameworkUnavailable(
            f"{info.display} is installed but failed to import "
            f"({type(e).__name__}: {e}); reinstall with "
            f"pip install 'triptych[{info.extra}]'"
        ) from e
    _BACKENDS[fw] = backend
    return backend


def unavailable_reason(name: str) -> str | None:
    """Why a framework cannot be used, or None when it can (imports it to find out)."""
    try:
        get_backend(name)
    except FrameworkUnavailable as e:
        return str(e)
    return None


def available() -> list[str]:
    """Installed and importable frameworks, in the canonical order torch, tensorflow, mxnet."""
    return [fw for fw in FRAMEWORKS if unavailable_reason(fw) is None]


def select(requested: list[str] | None) -> tuple[list[str], dict[str, str]]:
    """(usable frameworks in the order asked, absent ones -> why) for ``requested`` names or
    aliases; None means every registered framework. Not-requested ones are absent too."""
    names = [resolve(f) for f in requested] if requested else list(FRAMEWORKS)
    absent = {}
    for name in FRAMEWORKS:
        if name not in names:
            absent[name] = "not selected (--frameworks)"
        elif (reason := unavailable_reason(name)) is not None:
            absent[name] = reason
    return [n for n in names if n not in absent], absent
