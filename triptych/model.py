"""`Model`: one spec built in one framework, with the same methods on every framework."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from triptych.common import zoo
from triptych.common.data import Dataset
from triptych.common.data import load as load_data
from triptych.common.init import init_weights
from triptych.common.recipe import Optimizer, Recipe
from triptych.common.spec import ModelSpec
from triptych.common.weights import WeightsError, check_weights, load_weights, save_weights
from triptych.engine.corrupt import apply_hole, hole_mask
from triptych.engine.history import History
from triptych.engine.loop import fit as run_fit
from triptych.engine.trainer import ExactDropoutStep
from triptych.export.onnx_export import export_model
from triptych.frameworks.base import Built, check_dtype, get_backend, resolve


class Model:
    """A `ModelSpec` built natively in ``framework``.

    All arrays in and out are numpy arrays of ``dtype`` (float32 by default; float64 builds
    the oracle that parity bounds come from), NCHW, batch first. Weights are canonical
    (PyTorch layout, see `triptych.common.weights`).
    """

    def __init__(
        self,
        spec: ModelSpec,
        framework: str,
        weights: dict[str, np.ndarray] | None = None,
        seed: int = 0,
        dtype: str = "float32",
    ) -> None:
        self.spec = spec
        self.framework = resolve(framework)
        self.backend = get_backend(self.framework)
        self.seed = seed
        self.dtype = check_dtype(dtype)
        self._built = {
            name: self.backend.build(net, dtype=self.dtype) for name, net in spec.networks.items()
        }
        self.set_weights(init_weights(spec, seed) if weights is None else weights)

    def __repr__(self) -> str:
        return (
            f"Model({self.spec.name!r}, framework={self.framework!r}, dtype={self.dtype!r}, "
            f"networks={list(self.spec.networks)}, params={self.spec.param_count()})"
        )

    # -- structure --------------------------------------------------------------------------
    def native(self, network: str | None = None) -> Any:
        """The framework's own module/model/block for ``network`` (default: first of main)."""
        return self._built[self._network_name(network)].native

    def built(self, network: str | None = None) -> Built:
        """The backend's built network (what `Backend` methods take) for ``network``
        (default: first of the main chain)."""
        return self._built[self._network_name(network)]

    def built_chain(self, networks: list[str] | None = None) -> list[Built]:
        """Built networks for ``networks`` in order (default: the main chain)."""
        return [self.built(n) for n in (networks or self.spec.main_chain)]

    def built_networks(self) -> dict[str, Built]:
        """Every built network by name, in spec order."""
        return dict(self._built)

    def param_counts(self) -> dict[str, int]:
        """Trainable parameters per network, as the framework itself counts them."""
        return {name: self.backend.count_params(b) for name, b in self._built.items()}

    def _network_name(self, network: str | None) -> str:
        name = network or self.spec.main_chain[0]
        if name not in self._built:
            raise ValueError(
                f"model {self.spec.name!r} has no network {name!r}; networks: "
                f"{', '.join(self._built)}"
            )
        return name

    # -- inference --------------------------------------------------------------------------
    def _check_input(self, x: Any, network: str) -> np.ndarray:
        arr = np.asarray(x)
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"network {network!r} expects a numeric array, got dtype {arr.dtype}")
        want = self.spec.networks[network].input_shape
        if arr.ndim != len(want) + 1 or tuple(arr.shape[1:]) != want:
            raise ValueError(
                f"network {network!r} expects input of shape (N, "
                f"{', '.join(map(str, want))}) with any batch N; got {arr.shape}"
            )
        if arr.shape[0] == 0:
            raise ValueError(f"network {network!r}: empty batch (shape {arr.shape})")
        return np.ascontiguousarray(arr, dtype=self.dtype)

    def forward(self, x: Any, network: str, training: bool = False) -> np.ndarray:
        """One network on ``x``. training=True: batch statistics (BN running stats update)."""
        name = self._network_name(network)
        return self.backend.forward(self._built[name], self._check_input(x, name), training)

    def predict(
        self,
        x: Any,
        network: str | None = None,
        batch_size: int | None = None,
        layout: str = "NCHW",
    ) -> np.ndarray:
        """Eval-mode output of ``network``, or of the main chain when ``network`` is None.

        ``batch_size`` (default: all at once) splits large inputs into chunks. ``layout``:
        "NCHW" (default, the spec's) or "NHWC" for images given channels-last (Keras' order;
        an imported NHWC-origin file's ``spec.options["input_layout"]``).
        """
        if layout not in ("NCHW", "NHWC"):
            raise ValueError(f"layout {layout!r}: allowed 'NCHW' or 'NHWC'")
        if layout == "NHWC":
            arr4 = np.asarray(x)
            if arr4.ndim != 4:
                raise ValueError(f"layout 'NHWC' takes (N, H, W, C) images; got shape {arr4.shape}")
            x = arr4.transpose(0, 3, 1, 2)
        chain = [self._network_name(network)] if network else self.spec.main_chain
        self._check_input(x, chain[0])
        arr = np.asarray(x, dtype=self.dtype)
        if batch_size:
            return np.concatenate(
                [
                    self.predict(arr[i : i + batch_size], network)
                    for i in range(0, len(arr), batch_size)
                ]
            )
        hole = self.spec.options.get("inpaint_hole") if network is None else None
        if hole:  # context encoder: mask the hole, fill it with the decoder's output
            mask = hole_mask(arr.shape, float(hole))
            original, arr = arr, apply_hole(arr, mask)
        for name in chain:
            arr = self.forward(arr, name, training=False)
        if hole:
            arr = (original * (1.0 - mask) + arr * mask).astype(self.dtype)
        return arr

    # -- training ---------------------------------------------------------------------------
    def make_trainer(
        self,
        loss: str = "mse",
        optimizer: Optimizer | None = None,
        networks: list[str] | None = None,
        exact_dropout: bool = False,
        start_step: int = 0,
    ) -> Callable[[np.ndarray, Any], float]:
        """``step(x, target) -> loss``: one train-mode step through ``networks`` (default the
        main chain) with ``loss`` (mse|cross_entropy|bce_logits) and ``optimizer`` (default
        plain SGD, lr 0.1). Targets are canonical (NCHW images or integer labels).

        ``exact_dropout``: the k-th call uses the Dropout masks of step ``start_step + k``
        drawn from the common stream with this model's seed (`triptych.common.dropout`), the
        same in every framework; default: the framework's own RNG."""
        chain = [self._network_name(n) for n in (networks or self.spec.main_chain)]
        step = self.backend.train.make_trainer(
            [self._built[n] for n in chain], loss, optimizer or Optimizer()
        )
        if exact_dropout:
            return ExactDropoutStep(step, self, chain, self.seed, start_step)
        return step

    def fit(
        self,
        data: Any = "digits",
        steps: int | None = None,
        recipe: Recipe | None = None,
        progress: bool = True,
        seed: int | None = None,
        out_dir: str | os.PathLike | None = None,
        resume: bool = False,
        callback: Callable[[int, dict[str, Any]], None] | None = None,
        frozen: set[tuple[str, int]] | None = None,
        lr_mult: dict[tuple[str, int], float] | None = None,
        exact_dropout: bool = True,
    ) -> History:
        """Train with ``recipe`` (default: the zoo model's own, else a reconstruction recipe)
        on ``data`` (a `Dataset`, "digits" or a file path) for ``steps`` (default the
        recipe's). Returns the per-step history; the same on every framework.
        ``callback(step, record)`` runs after each step; ``frozen`` (network, layer index)
        pairs stay fixed and ``lr_mult`` scales learning rates per layer (supervised only;
        see `triptych.training.transfer` for the policies). ``exact_dropout``: Dropout masks
        from the common stream per (seed, step), the same in every framework and on resume
        (default on: measured within timing noise of the framework's own RNG, < 10 %, on the
        classifier; False: the framework's own RNG)."""
        recipe = recipe or default_recipe(self.spec)
        dataset = data if isinstance(data, Dataset) else load_data(str(data), recipe.scale)
        return run_fit(
            self,
            dataset,
            recipe,
            steps,
            seed=self.seed if seed is None else seed,
            progress=progress,
            out_dir=out_dir,
            resume=resume,
            callback=callback,
            frozen=frozen,
            lr_mult=lr_mult,
            exact_dropout=exact_dropout,
        )

    # -- weights ----------------------------------------------------------------------------
    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical weights of every network (copies)."""
        out: dict[str, np.ndarray] = {}
        for b in self._built.values():
            out.update(self.backend.get_weights(b))
        return out

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load canonical weights for every network; a mismatch lists every fault."""
        check_weights(self.spec, weights)
        for name, b in self._built.items():
            prefix = name + "."
            self.backend.set_weights(b, {k: v for k, v in weights.items() if k.startswith(prefix)})

    def export_onnx(
        self,
        out_dir: str | os.PathLike,
        networks: list[str] | None = None,
        opset: int = 18,
        exporter: str | None = None,
    ) -> dict[str, Path]:
        """One checked .onnx per network (or per name in ``networks``): name -> path.

        NCHW I/O, dynamic batch axis ``batch``, metadata; see `triptych.export`.
        """
        return export_model(self, out_dir, networks, opset, exporter)

    def save(self, path: str | os.PathLike) -> Path:
        """Write canonical weights + spec to safetensors (atomically)."""
        return save_weights(path, self.spec, self.get_weights(), framework=self.framework)


def spec_for(name_or_spec: str | ModelSpec, **kwargs: Any) -> ModelSpec:
    """A zoo model's spec by name (with factory kwargs), or the given spec unchanged."""
    if isinstance(name_or_spec, ModelSpec):
        if kwargs:
            raise TypeError(f"options {sorted(kwargs)} only apply to zoo models, not to a spec")
        return name_or_spec
    return zoo.create_spec(str(name_or_spec), **kwargs)


def default_recipe(spec: ModelSpec) -> Recipe:
    """The zoo recipe of ``spec``'s model name, else the default reconstruction recipe."""
    return zoo.entry(spec.name).recipe if spec.name in zoo.names() else Recipe()


def resolve_spec(source: str | os.PathLike | ModelSpec) -> ModelSpec:
    """A spec from a zoo name, a JSON spec file (``ModelSpec.to_json`` format) or a
    ``.safetensors`` checkpoint written by `Model.save`."""
    if isinstance(source, ModelSpec):
        return source
    text = str(source)
    if text in zoo.names():
        return zoo.create_spec(text)
    path = Path(text)
    if path.suffix == ".safetensors":
        return load_weights(path)[0]
    if path.suffix == ".json":
        if not path.is_file():
            raise FileNotFoundError(f"no spec file at {path}")
        try:
            return ModelSpec.from_json(path.read_text())
        except (KeyError, TypeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: not a triptych spec ({type(e).__name__}: {e})") from None
    raise ValueError(
        f"unknown model {text!r}; valid: {', '.join(zoo.names())}, a spec .json "
        f"file or a .safetensors checkpoint"
    )


def resolve_source(
    source: str | os.PathLike | ModelSpec,
) -> tuple[ModelSpec, dict[str, np.ndarray] | None]:
    """(spec, weights) from a zoo name, a spec .json, a `ModelSpec` (weights None: the
    caller seeds them) or a ``.safetensors`` checkpoint (its own weights)."""
    if not isinstance(source, ModelSpec) and Path(str(source)).suffix == ".safetensors":
        spec, weights, _ = load_weights(source)
        return spec, weights
    return resolve_spec(source), None


def create(
    name_or_spec: str | ModelSpec,
    framework: str = "torch",
    seed: int = 0,
    weights: dict[str, np.ndarray] | None = None,
    **kwargs: Any,
) -> Model:
    """Build a zoo model (by name, ``kwargs`` go to its factory) or a user spec.

    Initial weights come from ``weights`` (canonical) or else from `init_weights(spec, seed)`.
    """
    return Model(spec_for(name_or_spec, **kwargs), framework, weights=weights, seed=seed)


def load(path: str | os.PathLike, framework: str = "torch") -> Model:
    """A model from a file written by `Model.save`, built in ``framework``."""
    spec, weights, _ = load_weights(path)
    return Model(spec, framework, weights=weights)


__all__ = [
    "Model",
    "WeightsError",
    "create",
    "load",
    "resolve_source",
    "resolve_spec",
    "spec_for",
]
