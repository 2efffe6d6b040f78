"""Framework-neutral model specs: the layer vocabulary, `Network`, `ModelSpec`.

A layer states only what it outputs (units, channels, kernel...); its inputs come from shape
inference over the network. Shapes exclude the batch axis and are NCHW: a 4-D activation is
(C, H, W), a flat one is (F,).

Counting rules (per sample, i.e. batch 1, inference):
  * parameters: trainable tensors only (weights, biases, BatchNorm gamma/beta); running
    statistics are buffers, not parameters. This is what PyTorch's ``parameters()``, Keras'
    ``trainable_weights`` and Gluon's params with ``grad_req != 'null'`` report.
  * FLOPs: a multiply-accumulate is 2 FLOPs. Dense 2·in·out (+out for bias); Conv2d
    2·Cin·k²·Cout·Hout·Wout (+Cout·Hout·Wout for bias); ConvTranspose2d 2·Cin·k²·Cout·Hin·Win
    (+Cout·Hout·Wout for bias); BatchNorm 2 per element (scale and shift with folded
    statistics); each activation 1 per element; MaxPool2d k² per output element (k²-1
    comparisons plus the write, rounded to k²); Flatten, Unflatten and Dropout 0.
    A training step is counted as 3× the forward FLOPs (forward + backward for data and
    weights), the usual rule.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from triptych.common.layers import (  # noqa: F401  (re-exported as S.Conv2d, ...)
    LAYER_TYPES,
    BatchNorm,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Dense,
    Dropout,
    Flatten,
    Layer,
    LeakyReLU,
    MaxPool2d,
    ReLU,
    Shape,
    Sigmoid,
    SpecError,
    Tanh,
    Unflatten,
    layer_from_dict,
    numel,
)


@dataclass(frozen=True)
class LayerInfo:
    """One row of a network summary."""

    index: int
    layer: Layer
    input_shape: Shape
    output_shape: Shape
    params: int
    flops: int


@dataclass
class Network:
    """A named sequence of layers with a fixed per-sample input shape (batch excluded).

    ``init`` picks the canonical initialiser: ``"default"`` (PyTorch's default uniform) or
    ``"dcgan"`` (N(0, 0.02) weights, BatchNorm gamma N(1, 0.02)); see `triptych.common.init`.
    Shape inference runs on construction, so an invalid network fails early.
    """

    name: str
    input_shape: Shape
    layers: list[Layer]
    init: str = "default"
    infos: list[LayerInfo] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(s) for s in self.input_shape)
        self.layers = list(self.layers)
        if len(self.input_shape) not in (1, 3):
            raise SpecError(
                f"network {self.name!r}: input_shape must be (F,) or (C, H, W), "
                f"got {self.input_shape}"
            )
        if not self.layers:
            raise SpecError(f"network {self.name!r} has no layers")
        infos, shape = [], self.input_shape
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise SpecError(f"network {self.name!r} layer {i}: {layer!r} is not a spec layer")
            try:
                out = layer.output_shape(shape)
            except SpecError as e:
                raise SpecError(
                    f"network {self.name!r}, layer {i} ({layer.kind}), input shape {shape}: {e}"
                ) from None
            if any(s <= 0 for s in out):
                raise SpecError(
                    f"network {self.name!r}, layer {i} ({layer.kind}): input shape "
                    f"{shape} gives empty output {out}"
                )
            params = sum(numel(s) for s in layer.param_shapes(shape).values())
            infos.append(LayerInfo(i, layer, shape, out, params, layer.flops(shape)))
            shape = out
        self.infos = infos

    @property
    def output_shape(self) -> Shape:
        return self.infos[-1].output_shape

    @property
    def params(self) -> int:
        return sum(i.params for i in self.infos)

    @property
    def flops(self) -> int:
        """Forward FLOPs per sample (see the module docstring for the counting rule)."""
        return sum(i.flops for i in self.infos)

    def param_shapes(self) -> dict[str, Shape]:
        """Trainable tensors, named ``<network>.<layer index>.<weight|bias>``."""
        return {
            f"{self.name}.{i.index}.{k}": s
            for i in self.infos
            for k, s in i.layer.param_shapes(i.input_shape).items()
        }

    def buffer_shapes(self) -> dict[str, Shape]:
        return {
            f"{self.name}.{i.index}.{k}": s
            for i in self.infos
            for k, s in i.layer.buffer_shapes(i.input_shape).items()
        }

    def tensor_shapes(self) -> dict[str, Shape]:
        """Every canonical tensor (parameters then buffers), in a stable order."""
        return {**self.param_shapes(), **self.buffer_shapes()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "init": self.init,
            "layers": [layer.to_dict() for layer in self.layers],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Network:
        return cls(
            d["name"],
            tuple(d["input_shape"]),
            [layer_from_dict(x) for x in d["layers"]],
            init=d.get("init", "default"),
        )


@dataclass
class ModelSpec:
    """Named networks plus the model's main function.

    ``main`` is a network name or a chain of names (outputs feed the next input), e.g.
    ``["encoder", "decoder"]``; it defaults to the first network.
    """

    name: str
    networks: dict[str, Network]
    main: str | list[str] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.networks:
            raise SpecError(f"model {self.name!r} has no networks")
        for key, net in self.networks.items():
            if key != net.name:
                raise SpecError(
                    f"model {self.name!r}: network registered as {key!r} is named "
                    f"{net.name!r}; use the same name"
                )
        chain = self.main_chain
        for name in chain:
            if name not in self.networks:
                raise SpecError(
                    f"model {self.name!r}: main refers to unknown network {name!r};"
                    f" networks: {', '.join(self.networks)}"
                )
        for a, b in itertools.pairwise(chain):
            if self.networks[a].output_shape != self.networks[b].input_shape:
                raise SpecError(
                    f"model {self.name!r}: main chains {a!r} (output "
                    f"{self.networks[a].output_shape}) into {b!r} (input "
                    f"{self.networks[b].input_shape})"
                )

    @property
    def main_chain(self) -> list[str]:
        if self.main is None:
            return [next(iter(self.networks))]
        return [self.main] if isinstance(self.main, str) else list(self.main)

    @property
    def input_shape(self) -> Shape:
        return self.networks[self.main_chain[0]].input_shape

    @property
    def output_shape(self) -> Shape:
        return self.networks[self.main_chain[-1]].output_shape

    def tensor_shapes(self) -> dict[str, Shape]:
        out: dict[str, Shape] = {}
        for net in self.networks.values():
            out.update(net.tensor_shapes())
        return out

    def param_count(self) -> int:
        return sum(n.params for n in self.networks.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "main": self.main,
            "networks": [n.to_dict() for n in self.networks.values()],
            "options": self.options,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        nets = [Network.from_dict(n) for n in d["networks"]]
        return cls(
            d["name"],
            {n.name: n for n in nets},
            main=d.get("main"),
            options=dict(d.get("options") or {}),
        )

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        return cls.from_dict(json.loads(text))

    @property
    def hash(self) -> str:
        """First 16 hex digits of the SHA-256 of the canonical JSON (name excluded)."""
        d = self.to_dict()
        d.pop("name")
        blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def single(network: Network, name: str | None = None) -> ModelSpec:
    """Wrap one network as a model whose main function is that network."""
    return ModelSpec(name or network.name, {network.name: network}, main=network.name)
