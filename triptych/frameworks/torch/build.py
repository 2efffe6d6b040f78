"""Spec -> ``torch.nn.Sequential`` (a chain) or `GraphModule` (a graph), each layer built by
its converter in `triptych.frameworks.torch.layers`; canonical <-> native weights (identical
layouts: state_dict keys are ``<key>.<param>``, the canonical names without the network
prefix)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from triptych.common import spec as S
from triptych.frameworks.torch.layers import CONVERTERS, BuildContext
from triptych.frameworks.torch.layers.dropout import MaskedDropout


class GraphModule(nn.Module):
    """A graph network: one module per node, registered under its canonical key, run in
    topological order. Iterating yields the modules in node order (as nn.Sequential does),
    so code that walks a chain by index walks a graph the same way."""

    def __init__(self, network: S.Network, modules: list[nn.Module]) -> None:
        super().__init__()
        self.nodes = nn.ModuleDict(
            {info.key: m for info, m in zip(network.infos, modules, strict=True)}
        )
        self.keys_in_order = [info.key for info in network.infos]
        self.sources = [info.inputs for info in network.infos]
        self.output = network.output

    def __iter__(self):
        return (self.nodes[k] for k in self.keys_in_order)

    def __len__(self) -> int:
        return len(self.keys_in_order)

    def __getitem__(self, index: int) -> nn.Module:
        return self.nodes[self.keys_in_order[index]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs: list[torch.Tensor] = []
        for key, sources in zip(self.keys_in_order, self.sources, strict=True):
            args = [x if s == -1 else outs[s] for s in sources]
            outs.append(self.nodes[key](*args))
        return outs[self.output]


@dataclass
class TorchBuilt:
    network: S.Network
    native: nn.Sequential | GraphModule
    dtype: str = "float32"

    @property
    def torch_dtype(self) -> torch.dtype:
        """The parameters' (and inputs') torch dtype."""
        return getattr(torch, self.dtype)


def build_network(network: S.Network, dtype: str = "float32") -> TorchBuilt:
    """Build ``network`` in ``dtype`` (float32 or float64): an ``nn.Sequential`` for an
    unnamed chain (state_dict keys ``<index>.<param>``), else a `GraphModule` (keys
    ``<key>.<param>``)."""
    modules = [
        CONVERTERS.lookup(info.layer)(info.layer, BuildContext(info, i, dtype))
        for i, info in enumerate(network.infos)
    ]
    plain = network.is_chain and all(info.key == str(info.index) for info in network.infos)
    native = nn.Sequential(*modules) if plain else GraphModule(network, modules)
    return TorchBuilt(network, native.to(getattr(torch, dtype)), dtype)


def set_weights(built: TorchBuilt, weights: dict[str, np.ndarray]) -> None:
    """Copy canonical tensors (keys ``<network>.<index>.<name>``) into the module, exactly."""
    prefix = built.network.name + "."
    state = {k.removeprefix("nodes."): v for k, v in built.native.state_dict().items()}
    with torch.no_grad():
        for key, value in weights.items():
            local = key[len(prefix) :]
            state[local].copy_(torch.from_numpy(np.ascontiguousarray(value, built.dtype)))


def get_weights(built: TorchBuilt) -> dict[str, np.ndarray]:
    """Canonical tensors of the module (``num_batches_tracked`` is not canonical: dropped)."""
    prefix = built.network.name + "."
    return {
        prefix + k.removeprefix("nodes."): v.detach().cpu().numpy().copy()
        for k, v in built.native.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }


def forward(built: TorchBuilt, x: np.ndarray, training: bool = False) -> np.ndarray:
    """Run the module on NCHW numpy; training=True uses batch statistics and updates them."""
    module = built.native
    module.train(training)
    with torch.no_grad():
        y = module(
            torch.from_numpy(
                np.ascontiguousarray(x, S.numpy_input_dtype(built.network, built.dtype))
            )
        )
    module.train(False)
    return y.numpy()


def set_dropout_masks(built: TorchBuilt, masks: dict[int, np.ndarray] | None) -> None:
    """Exact Dropout: the canonical masks (layer index -> (N, *layer.mask_shape(input
    shape)); an attention's: (N, heads, L, L) on its probabilities, held by its
    ``prob_dropout``) for the next train-mode forwards; ``None`` clears them (PyTorch's own
    RNG again)."""
    for i, module in enumerate(built.native):
        if not isinstance(module, MaskedDropout):
            module = getattr(module, "prob_dropout", None)
        if isinstance(module, MaskedDropout):
            m = None if masks is None else masks.get(i)
            module.mask = (
                None if m is None else torch.from_numpy(np.ascontiguousarray(m, built.dtype))
            )


def count_params(built: TorchBuilt) -> int:
    """Trainable parameters as PyTorch counts them."""
    return sum(p.numel() for p in built.native.parameters() if p.requires_grad)
