"""The protocol every framework backend implements, and the registry of backends.

A backend is a package with six modules of the same names in every framework (read them
side by side): ``build`` (spec -> native network, canonical <-> native weights, forward),
``train`` (supervised, generator and discriminator steps), ``export`` (native -> ONNX),
``runtime`` (version, threads, the Dropout RNG, BatchNorm's running-variance estimator,
the fast exporter), ``distributed`` (data-parallel workers on the framework's own engine) and
``speed`` (numpy -> native tensor, the recommended fast inference
path, a minimal hand-written train step for the harness-overhead measurement, the
framework's own CPU GEMM for the benchmark peak).
`PackageBackend` adapts such a package into one `Backend`; nothing imports torch,
tensorflow or mxnet until a backend is first asked for.

Third-party backends register a `FrameworkInfo` under the entry-point group
``triptych.frameworks`` (``name = "package.module:INFO"``), e.g. a JAX/Flax backend; the
built-in ones are listed in `BUILTIN`.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from triptych.common.registry import ConverterRegistry
from triptych.common.spec import ModelSpec, Network

ENTRY_POINT_GROUP = "triptych.frameworks"


class FrameworkUnavailable(ImportError):
    """A known framework that is not installed or does not import; names the pip extra."""


@dataclass(frozen=True)
class FrameworkInfo:
    """Static facts about a framework: its canonical name, aliases, the module that tells
    whether it is installed, the pip extra, a display name, the backend package and whether
    triptych runs it on a GPU."""

    name: str
    aliases: tuple[str, ...]
    import_name: str
    extra: str
    display: str
    package: str
    #: whether triptych drives the framework on a CUDA GPU (its ``speed`` module has
    #: ``to_device``); the others run on the CPU only
    gpu: bool = False


BUILTIN: tuple[FrameworkInfo, ...] = (
    FrameworkInfo(
        "torch", ("pt", "pytorch"), "torch", "torch", "PyTorch", "triptych.frameworks.torch", True
    ),
    FrameworkInfo(
        "tensorflow",
        ("tf", "keras"),
        "tensorflow",
        "tensorflow",
        "TensorFlow/Keras",
        "triptych.frameworks.tensorflow",
    ),
    FrameworkInfo(
        "mxnet", ("mx", "gluon"), "mxnet", "mxnet", "MXNet/Gluon", "triptych.frameworks.mxnet"
    ),
    FrameworkInfo("sonnet", ("snt",), "sonnet", "sonnet", "Sonnet 2", "triptych.frameworks.sonnet"),
    FrameworkInfo(
        "chainer", ("ch",), "chainer", "chainer", "Chainer", "triptych.frameworks.chainer"
    ),
    FrameworkInfo("jax", ("flax",), "jax", "jax", "JAX/Flax", "triptych.frameworks.jax"),
)


def _discover() -> dict[str, FrameworkInfo]:
    """Built-in frameworks, then those registered by other packages' entry points."""
    found = {info.name: info for info in BUILTIN}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            info = ep.load()
        except Exception:  # a broken plugin must not take the built-in backends down
            continue
        if isinstance(info, FrameworkInfo) and info.name not in found:
            found[info.name] = info
    return found


FRAMEWORKS: dict[str, FrameworkInfo] = _discover()


#: the floating-point precisions a backend builds in: float32 (the product) and float64 (the
#: oracle that parity bounds are derived from, `triptych.verify.oracle`)
DTYPES = ("float32", "float64")


def check_dtype(dtype: str) -> str:
    """``dtype`` itself when it is one of `DTYPES`; ValueError naming the allowed ones."""
    if dtype not in DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
    return dtype


class Built(Protocol):
    """A network built natively: ``native`` is the framework's module/model/block, ``dtype``
    the precision its parameters, inputs, outputs and training steps use (`DTYPES`)."""

    network: Network
    native: Any
    dtype: str


class Backend(Protocol):
    """What triptych needs from a framework. Arrays in and out are numpy, NCHW."""

    name: str
    info: FrameworkInfo
    bn_running_var: str  # "unbiased" (PyTorch's rule) or "biased"
    fast_exporter: str | None  # the exporter to use where export time matters
    layer_converters: ConverterRegistry[Any]  # spec layer class -> its builder here

    def version(self) -> str: ...
    def set_threads(self, n: int) -> None: ...
    def devices(self) -> list[str]: ...  # cpu, and each GPU it runs on
    def notes(self) -> list[str]: ...  # facts a user should know on this machine
    def seed_rng(self, built: list[Built], seed: int) -> None: ...  # Dropout masks
    def build(self, network: Network, dtype: str = "float32") -> Built: ...
    def set_weights(self, built: Built, weights: dict[str, np.ndarray]) -> None: ...
    def get_weights(self, built: Built) -> dict[str, np.ndarray]: ...
    def forward(self, built: Built, x: np.ndarray, training: bool = False) -> np.ndarray: ...
    def count_params(self, built: Built) -> int: ...
    def set_dropout_masks(  # exact Dropout (`triptych.common.dropout`); None: own RNG
        self, built: Built, masks: dict[int, np.ndarray] | None
    ) -> None: ...
    def to_native(self, x: np.ndarray) -> Any: ...
    def fast_infer(self, chain: list[Built], x: np.ndarray) -> Callable[[], np.ndarray]: ...
    def plain_train_step(
        self, chain: list[Built], x: np.ndarray, target: np.ndarray, lr: float = 1e-4
    ) -> Callable[[], Any]: ...
    def cpu_gemm(self, a: np.ndarray, b: np.ndarray) -> Callable[[], Any]: ...  # a @ b, fp32
    @property
    def train(self) -> ModuleType: ...  # make_trainer, make_generator_step, ...
    @property
    def export(self) -> ModuleType: ...  # export_network(built, opset, exporter)
    @property
    def distributed(self) -> ModuleType: ...  # data parallelism: processes, init, attach


class ModelLike(Protocol):
    """What the code below `triptych.model` (export, the training engine) needs of a model,
    so it never names the `Model` class above it: ``Model`` satisfies this protocol."""

    spec: ModelSpec
    framework: str
    backend: Backend
    dtype: str

    def built(self, network: str | None = None) -> Built: ...
    def built_networks(self) -> dict[str, Built]: ...
    def forward(self, x: Any, network: str, training: bool = False) -> np.ndarray: ...
    def get_weights(self) -> dict[str, np.ndarray]: ...
    def set_weights(self, weights: dict[str, np.ndarray]) -> None: ...


class PackageBackend:
    """The one adapter from a backend package (build/train/export/runtime/speed) to
    `Backend`. ``runtime`` and ``build`` are imported at construction (that imports the
    framework); ``train``, ``export`` and ``speed`` when first used."""

    def __init__(self, info: FrameworkInfo) -> None:
        self.info = info
        self.name = info.name
        self._runtime = self._module("runtime")
        self._build = self._module("build")
        self.bn_running_var: str = self._runtime.BN_RUNNING_VAR
        self.fast_exporter: str | None = self._runtime.FAST_EXPORTER

    def __repr__(self) -> str:
        return f"<{self.info.display} backend ({self.info.package})>"

    def _module(self, name: str) -> ModuleType:
        return importlib.import_module(f"{self.info.package}.{name}")

    # runtime
    def version(self) -> str:
        return self._runtime.version()

    def set_threads(self, n: int) -> None:
        self._runtime.set_threads(n)

    def devices(self) -> list[str]:
        """Where the backend can run: ``cpu``, and each GPU it sees with its name
        (``cuda:0 (NVIDIA H200)``) where triptych drives the framework there."""
        listed = getattr(self._runtime, "devices", None)
        return ["cpu"] if listed is None else listed()

    def seed_rng(self, built: list[Built], seed: int) -> None:
        self._runtime.seed_rng(built, seed)

    def notes(self) -> list[str]:
        """What a user should know about this framework on this machine (the runtime's
        optional ``notes()``; e.g. MXNet's oneDNN verdict), one line each."""
        listed = getattr(self._runtime, "notes", None)
        return [] if listed is None else list(listed())

    # build
    def build(self, network: Network, dtype: str = "float32") -> Built:
        """``network`` built natively with parameters, inputs and outputs in ``dtype``."""
        return self._build.build_network(network, dtype=check_dtype(dtype))

    def set_weights(self, built: Built, weights: dict[str, np.ndarray]) -> None:
        self._build.set_weights(built, weights)

    def get_weights(self, built: Built) -> dict[str, np.ndarray]:
        return self._build.get_weights(built)

    def forward(self, built: Built, x: np.ndarray, training: bool = False) -> np.ndarray:
        return self._build.forward(built, x, training)

    def count_params(self, built: Built) -> int:
        return self._build.count_params(built)

    def set_dropout_masks(self, built: Built, masks: dict[int, np.ndarray] | None) -> None:
        """Train-mode forwards of ``built`` multiply by these canonical masks (layer index ->
        (N, *input shape)) until cleared with ``None`` (then the framework's own RNG)."""
        self._build.set_dropout_masks(built, masks)

    # speed (benchmarks)
    def to_native(self, x: np.ndarray) -> Any:
        return self.speed.to_native(x)

    def fast_infer(self, chain: list[Built], x: np.ndarray) -> Callable[[], np.ndarray]:
        return self.speed.fast_infer(chain, x)

    def plain_train_step(
        self, chain: list[Built], x: np.ndarray, target: np.ndarray, lr: float = 1e-4
    ) -> Callable[[], Any]:
        return self.speed.plain_train_step(chain, x, target, lr)

    def cpu_gemm(self, a: np.ndarray, b: np.ndarray) -> Callable[[], Any]:
        """A call computing ``a @ b`` (fp32, square) with the framework's own CPU GEMM."""
        return self.speed.cpu_gemm(a, b)

    # lazily imported modules
    @cached_property
    def train(self) -> ModuleType:
        """The ``train`` module: make_trainer, make_generator_step, make_discriminator_step."""
        return self._module("train")

    @cached_property
    def export(self) -> ModuleType:
        """The ``export`` module: export_network(built, opset, exporter)."""
        return self._module("export")

    @cached_property
    def distributed(self) -> ModuleType:
        """The ``distributed`` module (data parallelism on the framework's own engine):
        UNSUPPORTED, processes, init, attach, allreduce_sum, shutdown."""
        return self._module("distributed")

    @cached_property
    def layer_converters(self) -> ConverterRegistry[Any]:
        """The backend's spec-layer converters (``layers.CONVERTERS``: one per layer kind,
        registered per layer family in ``<package>.layers``)."""
        return self._module("layers").CONVERTERS

    @cached_property
    def speed(self) -> ModuleType:
        """The ``speed`` module: to_native, fast_infer, plain_train_step."""
        return self._module("speed")


def resolve(name: str) -> str:
    """Canonical framework name for a name or alias; `ValueError` listing valid names."""
    key = str(name).strip().lower()
    for info in FRAMEWORKS.values():
        if key == info.name or key in info.aliases:
            return info.name
    valid = ", ".join(f"{i.name} ({'/'.join(i.aliases)})" for i in FRAMEWORKS.values())
    raise ValueError(f"unknown framework {name!r}; valid: {valid}")


_BACKENDS: dict[str, Backend] = {}


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
        backend = PackageBackend(info)
    except Exception as e:  # a broken install: say which and how to fix
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
    """Installed and importable frameworks, in registry order (torch, tensorflow, mxnet, ...)."""
    return [fw for fw in FRAMEWORKS if unavailable_reason(fw) is None]


@dataclass(frozen=True)
class Selection:
    """The frameworks a command will use, in the order asked, and why the others are not
    used: ``absent`` has the asked-for ones that cannot be used, ``unselected`` the rest."""

    usable: list[str]
    absent: dict[str, str]
    unselected: list[str]


def select(requested: list[str] | None) -> Selection:
    """A `Selection` for ``requested`` names or aliases (None or empty: every registered
    framework, the absent ones with their reason)."""
    names = list(dict.fromkeys(resolve(f) for f in requested)) if requested else list(FRAMEWORKS)
    absent = {n: r for n in names if (r := unavailable_reason(n)) is not None}
    unselected = [n for n in FRAMEWORKS if n not in names]
    return Selection([n for n in names if n not in absent], absent, unselected)
