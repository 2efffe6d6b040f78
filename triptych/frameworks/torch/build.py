"""Spec -> ``torch.nn.Sequential`` (a chain) or `GraphModule` (a graph); canonical <-> native
weights (identical layouts: state_dict keys are ``<key>.<param>``, the canonical names
without the network prefix)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from triptych.common import spec as S


class MaskedDropout(nn.Dropout):
    """``nn.Dropout`` that, in train mode with a mask set (`set_dropout_masks`), multiplies
    by that mask (exact Dropout, `triptych.common.dropout`); otherwise PyTorch's own Dropout.
    Eval mode is the identity, and export sees plain ``nn.Dropout`` behaviour. The mask is a
    plain attribute, not a buffer: the state_dict is unchanged."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__(p)
        self.mask: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.mask is not None:
            return x * self.mask
        return super().forward(x)


class Merge(nn.Module):
    """Add (elementwise sum) or Concat (along a canonical NCHW axis) of several inputs."""

    def __init__(self, layer: S.Layer) -> None:
        super().__init__()
        self.concat_axis = layer.axis if isinstance(layer, S.Concat) else None

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.concat_axis is not None:
            return torch.cat(xs, dim=self.concat_axis)
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class GlobalAvgPool(nn.Module):
    """(N, C, H, W) -> (N, C): the mean over H and W, as an average pool over the whole
    (known) H x W and a flatten, which every exporter writes as AveragePool + Flatten: a
    ``mean`` (or adaptive pool, under dynamo) becomes a ReduceMean whose opset-18 form
    neither the opset 17 conversion nor onnx2torch takes."""

    def __init__(self, shape: S.Shape) -> None:
        super().__init__()
        self.window = (int(shape[1]), int(shape[2]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(nn.functional.avg_pool2d(x, self.window), 1)


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


class ConstantUnflatten(nn.Module):
    """(N, C·H·W) -> (N, C, H, W) as ``reshape(-1, C, H, W)``: the exporters then write a
    Reshape to a constant shape that shape inference (and onnx2torch) can follow;
    ``nn.Unflatten`` exports through a Shape/Gather/Mod chain that leaves every value
    after it without a shape."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, *self.shape)


def _layer(layer: S.Layer, in_shape: S.Shape) -> nn.Module:
    if isinstance(layer, S.Dense):
        return nn.Linear(in_shape[0], layer.units, bias=layer.bias)
    if isinstance(layer, S.Conv2d):
        return nn.Conv2d(
            in_shape[0],
            layer.out_channels,
            layer.kernel,
            layer.stride,
            layer.padding,
            bias=layer.bias,
        )
    if isinstance(layer, S.ConvTranspose2d):
        return nn.ConvTranspose2d(
            in_shape[0],
            layer.out_channels,
            layer.kernel,
            layer.stride,
            layer.padding,
            bias=layer.bias,
        )
    if isinstance(layer, S.BatchNorm):
        cls = nn.BatchNorm1d if len(in_shape) == 1 else nn.BatchNorm2d
        return cls(in_shape[0], eps=layer.eps, momentum=layer.momentum)
    if isinstance(layer, S.ReLU):
        return nn.ReLU()
    if isinstance(layer, S.LeakyReLU):
        return nn.LeakyReLU(layer.negative_slope)
    if isinstance(layer, S.Sigmoid):
        return nn.Sigmoid()
    if isinstance(layer, S.Tanh):
        return nn.Tanh()
    if isinstance(layer, S.Dropout):
        return MaskedDropout(layer.p)
    if isinstance(layer, S.Flatten):
        return nn.Flatten() if len(in_shape) == 3 else nn.Identity()
    if isinstance(layer, S.Unflatten):
        return ConstantUnflatten(layer.shape)
    if isinstance(layer, S.MaxPool2d):
        return nn.MaxPool2d(layer.kernel, layer.effective_stride, layer.padding)
    if isinstance(layer, S.AvgPool2d):
        return nn.AvgPool2d(layer.kernel, layer.effective_stride, layer.padding)
    if isinstance(layer, S.GlobalAvgPool):
        return GlobalAvgPool(in_shape)
    if isinstance(layer, S.Identity):
        return nn.Identity()
    if isinstance(layer, S.Upsample):
        return nn.Upsample(scale_factor=layer.scale, mode=layer.mode)
    if isinstance(layer, S.Add | S.Concat):
        return Merge(layer)
    raise TypeError(f"torch backend cannot build layer {layer!r}")


def build_network(network: S.Network, dtype: str = "float32") -> TorchBuilt:
    """Build ``network`` in ``dtype`` (float32 or float64): an ``nn.Sequential`` for an
    unnamed chain (state_dict keys ``<index>.<param>``), else a `GraphModule` (keys
    ``<key>.<param>``)."""
    modules = [_layer(info.layer, info.input_shape) for info in network.infos]
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
        y = module(torch.from_numpy(np.ascontiguousarray(x, built.dtype)))
    module.train(False)
    return y.numpy()


def set_dropout_masks(built: TorchBuilt, masks: dict[int, np.ndarray] | None) -> None:
    """Exact Dropout: the canonical masks (layer index -> (N, *input shape)) for the next
    train-mode forwards; ``None`` clears them (PyTorch's own RNG again)."""
    for i, module in enumerate(built.native):
        if isinstance(module, MaskedDropout):
            m = None if masks is None else masks.get(i)
            module.mask = (
                None if m is None else torch.from_numpy(np.ascontiguousarray(m, built.dtype))
            )


def count_params(built: TorchBuilt) -> int:
    """Trainable parameters as PyTorch counts them."""
    return sum(p.numel() for p in built.native.parameters() if p.requires_grad)
