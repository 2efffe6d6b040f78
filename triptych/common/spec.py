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

from triptych.common.graph_nodes import LayerInfo, NodeList
from triptych.common.graph_nodes import topological as _topological

# the vocabulary, re-exported: S.Conv2d, S.Input, ... (every name in its __all__)
from triptych.common.layers import *  # noqa: F403
from triptych.common.layers import (
    Layer,
    Shape,
    SpecError,
    Tensor,
    layer_from_dict,
    numel,
)
from triptych.common.layers.base import check_input_dtype


class Network:
    """A named graph of layers with one input of fixed per-sample shape (batch excluded).

    Two ways to write one, the same thing inside:
      * chain: ``Network(name, input_shape, layers=[...])``, each layer feeding the next;
      * functional: ``Network(name, inputs=x, outputs=y)`` with ``x = S.Input(shape)`` and
        layers called on tensors (``Add()([a, b])``, ``Concat()([u, y])``).
    Canonical weight names are ``<network>.<key>.<param>`` with key the layer's ``name`` or
    its position in topological order (a chain: its index), so a chain written either way
    has the same names. ``init`` picks the canonical initialiser: ``"default"`` (PyTorch's
    default uniform) or ``"dcgan"``; see `triptych.common.init`. Shape inference runs on
    construction, so an invalid network fails early, naming the node and its shapes.
    """

    def __init__(
        self,
        name: str,
        input_shape: Shape | None = None,
        layers: list[Layer] | None = None,
        init: str = "default",
        *,
        inputs: Tensor | None = None,
        outputs: Tensor | None = None,
        input_dtype: str = "float",
    ) -> None:
        self.name, self.init = name, init
        self.input_dtype = input_dtype
        if inputs is not None or outputs is not None:
            if layers is not None or input_shape is not None:
                raise SpecError(
                    f"network {name!r}: give input_shape and layers, or inputs and outputs"
                )
            if not isinstance(inputs, Tensor) or not isinstance(outputs, Tensor):
                raise SpecError(f"network {name!r}: inputs and outputs must be S.Input tensors")
            nodes, output = _topological(inputs, outputs, name)
            self.input_dtype = inputs.node.dtype
            self._build(inputs.shape, nodes, output)
            return
        if input_shape is None or layers is None:
            raise SpecError(f"network {name!r}: give input_shape and layers (or inputs/outputs)")
        chain = [(layer, (i - 1,)) for i, layer in enumerate(layers)]
        self._build(tuple(input_shape), chain, len(chain) - 1)

    def _build(self, input_shape: Shape, nodes: NodeList, output: int) -> None:
        self.input_shape = tuple(int(s) for s in input_shape)
        if len(self.input_shape) not in (1, 3):
            raise SpecError(
                f"network {self.name!r}: input_shape must be (F,) or (C, H, W), "
                f"got {self.input_shape}"
            )
        if not nodes:
            raise SpecError(f"network {self.name!r} has no layers")
        check_input_dtype(self.input_dtype)
        self.output = int(output)
        infos: list[LayerInfo] = []
        keys: set[str] = set()
        for i, (layer, sources) in enumerate(nodes):
            where = f"network {self.name!r}, layer {i}"
            if not isinstance(layer, Layer):
                raise SpecError(f"{where}: {layer!r} is not a spec layer")
            where = f"{where} ({layer.describe()})"
            if not sources or any(not -1 <= s < i for s in sources):
                raise SpecError(f"{where}: inputs {list(sources)} must be earlier nodes or -1")
            _check_ids(where, layer, sources, self.input_dtype)
            shapes = [self.input_shape if s == -1 else infos[s].output_shape for s in sources]
            try:
                if layer.merge:
                    if len(shapes) < layer.min_inputs:
                        raise SpecError(f"{layer.kind} takes {layer.min_inputs} or more inputs")
                    out = layer.merge_shape(shapes)
                elif len(shapes) != 1:
                    raise SpecError(f"{layer.kind} takes one input, got {len(shapes)}")
                else:
                    out = layer.output_shape(shapes[0])
            except SpecError as e:
                raise SpecError(f"{where}, input shapes {shapes}: {e}") from None
            if any(s <= 0 for s in out):
                raise SpecError(f"{where}: input shapes {shapes} give empty output {out}")
            key = layer.name or str(i)
            if key in keys:
                raise SpecError(f"{where}: the name {key!r} is used twice in the network")
            keys.add(key)
            params = sum(numel(s) for s in layer.param_shapes(shapes[0]).values())
            flops = layer.flops_multi(shapes) if layer.merge else layer.flops(shapes[0])
            infos.append(
                LayerInfo(
                    i, layer, shapes[0], out, params, flops, key, tuple(sources), tuple(shapes)
                )
            )
        used = {s for info in infos for s in info.inputs} | {self.output}
        unused = [i for i in range(len(infos)) if i not in used]
        if -1 not in _ancestors(infos, self.output):
            raise SpecError(f"network {self.name!r}: its output does not use its input")
        if unused:
            raise SpecError(
                f"network {self.name!r}: nodes {unused} "
                f"({', '.join(infos[i].layer.describe() for i in unused)}) feed nothing"
            )
        self.infos = infos

    @property
    def layers(self) -> list[Layer]:
        """The layers in node (topological) order."""
        return [i.layer for i in self.infos]

    @property
    def is_chain(self) -> bool:
        """Each node takes the previous one and the last is the output."""
        return self.output == len(self.infos) - 1 and all(
            info.inputs == (info.index - 1,) for info in self.infos
        )

    def __repr__(self) -> str:
        form = "chain" if self.is_chain else "graph"
        return f"Network({self.name!r}, {form} of {len(self.infos)}, {self.input_shape} -> " + (
            f"{self.output_shape})"
        )

    @property
    def output_shape(self) -> Shape:
        return self.infos[self.output].output_shape

    @property
    def params(self) -> int:
        return sum(i.params for i in self.infos)

    @property
    def flops(self) -> int:
        """Forward FLOPs per sample (see the module docstring for the counting rule)."""
        return sum(i.flops for i in self.infos)

    def param_shapes(self) -> dict[str, Shape]:
        """Trainable tensors, named ``<network>.<key>.<weight|bias>``."""
        return {
            f"{self.name}.{i.key}.{k}": s
            for i in self.infos
            for k, s in i.layer.param_shapes(i.input_shape).items()
        }

    def buffer_shapes(self) -> dict[str, Shape]:
        return {
            f"{self.name}.{i.key}.{k}": s
            for i in self.infos
            for k, s in i.layer.buffer_shapes(i.input_shape).items()
        }

    def tensor_shapes(self) -> dict[str, Shape]:
        """Every canonical tensor (parameters then buffers), in a stable order."""
        return {**self.param_shapes(), **self.buffer_shapes()}

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "init": self.init,
        }
        if self.input_dtype != "float":  # written only when set: older specs keep their hash
            d["input_dtype"] = self.input_dtype
        if self.is_chain:
            d["layers"] = [layer.to_dict() for layer in self.layers]
        else:
            d["nodes"] = [
                {"layer": info.layer.to_dict(), "inputs": list(info.inputs)} for info in self.infos
            ]
            d["output"] = self.output
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Network:
        if "layers" in d:
            return cls(
                d["name"],
                tuple(d["input_shape"]),
                [layer_from_dict(x) for x in d["layers"]],
                init=d.get("init", "default"),
                input_dtype=d.get("input_dtype", "float"),
            )
        net = cls.__new__(cls)
        net.name, net.init = d["name"], d.get("init", "default")
        net.input_dtype = d.get("input_dtype", "float")
        nodes = [
            (layer_from_dict(n["layer"]), tuple(int(s) for s in n["inputs"])) for n in d["nodes"]
        ]
        net._build(tuple(d["input_shape"]), nodes, int(d["output"]))
        return net


def _check_ids(where: str, layer: Layer, sources: tuple[int, ...], input_dtype: str) -> None:
    """int64 token ids go into `Embedding` layers only, and those read only them."""
    reads_input = -1 in sources
    if layer.takes_ids and (input_dtype != "int64" or sources != (-1,)):
        raise SpecError(
            f"{where}: {layer.kind} reads the network's int64 token ids "
            '(S.Input((L,), dtype="int64")) and nothing else'
        )
    if reads_input and input_dtype == "int64" and not layer.takes_ids:
        raise SpecError(
            f"{where}: the network input holds int64 token ids; only embedding layers read "
            f"them, not {layer.kind}"
        )


def input_vocabulary(network: Network) -> int | None:
    """The number of token ids every embedding reading ``network``'s int64 input accepts
    (the smallest table), or None for a float input."""
    if network.input_dtype != "int64":
        return None
    tables = [i.layer.num_embeddings for i in network.infos if hasattr(i.layer, "num_embeddings")]
    return min(tables) if tables else 2


def numpy_input_dtype(network: Network, dtype: str) -> str:
    """The numpy dtype a backend feeds ``network`` in a ``dtype`` build: ``dtype`` for a
    float input, "int64" for token ids."""
    return "int64" if network.input_dtype == "int64" else dtype


def _ancestors(infos: list[LayerInfo], node: int) -> set[int]:
    seen, stack = set(), [node]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n >= 0:
            stack.extend(infos[n].inputs)
    return seen


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
