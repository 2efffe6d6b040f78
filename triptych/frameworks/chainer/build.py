"""Spec -> one ``chainer.Chain`` (a chain and a graph alike: one node per spec node, run in
topological order); canonical <-> native weights.

Chainer's layouts are PyTorch's (NCHW activations; ``L.Linear`` W (out, in),
``L.Convolution2D`` W OIHW, ``L.Deconvolution2D`` W IOHW), so weights are copied as they are;
only the names differ (W/b; BatchNorm gamma/beta/avg_mean/avg_var). Train or eval mode is
Chainer's ``chainer.config.train`` (`forward` sets it). A frozen BatchNorm runs with
``train=False`` inside a training step (running statistics used, not updated).

A float64 build (the oracle parity bounds come from) casts each link's parameters and
BatchNorm's running statistics to float64 after building (`_cast`; Chainer's global
``chainer.config.dtype`` is left alone) and feeds float64 inputs and Dropout masks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.chainer.compat import F, L, chainer

#: weights are loaded after building: Chainer's own initialisers would only cost time
_ZERO = chainer.initializers.Zero()
#: canonical parameter name -> Chainer attribute, per kind of weighted layer
_NAMES = {"weight": "W", "bias": "b"}
_BN_NAMES = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "avg_mean",
    "running_var": "avg_var",
}

Call = Callable[..., Any]


class ChainerNet(chainer.Chain):
    """One spec network: ``net(x)`` on an NCHW (or flat) batch, in the mode of
    ``chainer.config.train``. Weighted nodes are child links ``n<index>``; ``masks`` holds
    exact Dropout masks by layer index; ``rng`` draws the masks otherwise; ``frozen_bn`` are
    the BatchNorm indices that run in eval mode while training. ``dtype``: its parameters',
    inputs' and masks' precision (float32 or float64)."""

    def __init__(self, network: S.Network, dtype: str = "float32") -> None:
        super().__init__()
        self.dtype = np.dtype(dtype)
        self.rng = np.random.default_rng(0)
        self.masks: dict[int, np.ndarray] = {}
        self.frozen_bn: set[int] = set()
        self.holders: dict[int, chainer.Link] = {}
        calls: list[Call] = []
        with self.init_scope():
            for i, info in enumerate(network.infos):
                link = _link(info.layer, info.input_shape)
                if link is not None:
                    _cast(link, self.dtype)
                    setattr(self, f"n{i}", link)
                    self.holders[i] = link
                calls.append(self._call(i, info, link))
        self._calls = tuple(calls)
        self._sources = tuple(info.inputs for info in network.infos)
        self._output = network.output

    def _call(self, i: int, info: S.LayerInfo, link: chainer.Link | None) -> Call:
        layer = info.layer
        if isinstance(layer, S.BatchNorm):
            return lambda x: self._batchnorm(i, link, x)
        if link is not None:
            return link
        if isinstance(layer, S.Dropout):
            return lambda x: self._dropout(i, layer.p, x)
        return _op(layer, info.input_shape)

    def _batchnorm(self, i: int, link: chainer.Link, x: Any) -> Any:
        if i in self.frozen_bn:
            with chainer.using_config("train", False):
                return link(x)
        return link(x)

    def _dropout(self, i: int, p: float, x: Any) -> Any:
        if not chainer.config.train or p == 0:
            return x
        mask = self.masks.get(i)
        if mask is None:  # Chainer's own rule: keep with probability 1 - p, scale 1 / (1 - p)
            keep = self.rng.random(x.shape, dtype=np.float32) >= p
            mask = keep.astype(self.dtype) * self.dtype.type(1.0 / (1.0 - p))
        return x * mask

    def forward(self, x: Any) -> Any:
        outs: list[Any] = []
        for call, sources in zip(self._calls, self._sources, strict=True):
            outs.append(call(*[x if s == -1 else outs[s] for s in sources]))
        y = outs[self._output]
        # a network that leaves x untouched (eval-mode Dropout only) still returns a
        # Variable made by a function, which the exporter can trace
        return F.identity(y) if y is x or not isinstance(y, chainer.Variable) else y


def _link(layer: S.Layer, shape: S.Shape) -> chainer.Link | None:
    """The Chainer link of a weighted layer (None for parameter-free layers)."""
    if isinstance(layer, S.Dense):
        return L.Linear(shape[0], layer.units, nobias=not layer.bias, initialW=_ZERO)
    if isinstance(layer, S.Conv2d | S.ConvTranspose2d):  # same arguments; W OIHW / IOHW
        cls = L.Convolution2D if isinstance(layer, S.Conv2d) else L.Deconvolution2D
        return cls(
            shape[0],
            layer.out_channels,
            layer.kernel,
            layer.stride,
            layer.padding,
            nobias=not layer.bias,
            initialW=_ZERO,
        )
    if isinstance(layer, S.BatchNorm):  # Chainer's decay is 1 - PyTorch's momentum
        return L.BatchNormalization(shape[0], decay=1.0 - layer.momentum, eps=layer.eps)
    return None


def _cast(link: chainer.Link, dtype: np.dtype) -> None:
    """``link``'s parameters (and BatchNorm's running statistics) in ``dtype``, in place;
    float32, what Chainer allocates, leaves them as they are."""
    if dtype == np.float32:
        return
    for param in link.params():
        param.array = param.array.astype(dtype)
    if isinstance(link, L.BatchNormalization):
        link.avg_mean = link.avg_mean.astype(dtype)
        link.avg_var = link.avg_var.astype(dtype)


def _op(layer: S.Layer, shape: S.Shape) -> Call:
    """The Chainer function of a parameter-free layer (Dropout is `ChainerNet`'s)."""
    if isinstance(layer, S.ReLU):
        return F.relu
    if isinstance(layer, S.LeakyReLU):
        return lambda x: F.leaky_relu(x, layer.negative_slope)
    if isinstance(layer, S.Sigmoid):
        return F.sigmoid
    if isinstance(layer, S.Tanh):
        return F.tanh
    if isinstance(layer, S.Flatten):  # batch left to -1: the export's Reshape is batch-free
        return (lambda x: F.reshape(x, (-1, S.numel(shape)))) if len(shape) == 3 else _identity
    if isinstance(layer, S.Unflatten):
        return lambda x: F.reshape(x, (-1, *layer.shape))
    if isinstance(layer, S.MaxPool2d):  # padding counts as -inf, PyTorch's rule
        k, s, p = layer.kernel, layer.effective_stride, layer.padding
        return lambda x: F.max_pooling_2d(x, k, s, p, cover_all=False)
    if isinstance(layer, S.AvgPool2d):  # zero padding counts in the average, PyTorch's
        k, s, p = layer.kernel, layer.effective_stride, layer.padding
        return lambda x: F.average_pooling_2d(x, k, s, p)
    if isinstance(layer, S.GlobalAvgPool):  # a whole-image pool: AveragePool in ONNX
        window = (int(shape[1]), int(shape[2]))
        return lambda x: F.reshape(F.average_pooling_2d(x, window), (-1, int(shape[0])))
    if isinstance(layer, S.Identity):
        return _identity
    if isinstance(layer, S.Upsample):
        return _upsample(layer, shape)
    if isinstance(layer, S.Add):
        return lambda *xs: sum(xs[1:], xs[0])
    if isinstance(layer, S.Concat):
        return lambda *xs: F.concat(xs, axis=layer.axis)
    raise TypeError(f"chainer backend cannot build layer {layer!r}")


def _identity(x: Any) -> Any:
    return x


def _upsample(layer: S.Upsample, shape: S.Shape) -> Call:
    """Nearest: ``unpooling_2d`` with window = stride = scale (each pixel repeated);
    bilinear: ``resize_images`` with ``align_corners=False`` (half-pixel centres, OpenCV's
    and PyTorch's rule)."""
    s = int(layer.scale)
    if layer.mode == "nearest":
        return lambda x: F.unpooling_2d(x, s, s, 0, cover_all=False)
    size = (int(shape[1]) * s, int(shape[2]) * s)
    return lambda x: F.resize_images(x, size, mode="bilinear", align_corners=False)


@dataclass
class ChainerBuilt:
    network: S.Network
    native: ChainerNet
    dtype: str = "float32"

    def params_in_order(self) -> list[chainer.Parameter]:
        """Trainable parameters in node order (weight then bias; BN gamma then beta)."""
        out: list[chainer.Parameter] = []
        for holder in self.native.holders.values():
            out += holder_params(holder)
        return out


def holder_params(holder: chainer.Link) -> list[chainer.Parameter]:
    """A weight holder's trainable parameters in a fixed order."""
    if isinstance(holder, L.BatchNormalization):
        return [holder.gamma, holder.beta]
    return [holder.W, *([holder.b] if holder.b is not None else [])]


def build_network(network: S.Network, dtype: str = "float32") -> ChainerBuilt:
    """Build ``network`` as a `ChainerNet` in ``dtype`` (float32 or float64; parameters
    allocated at build time: every link is given its input size)."""
    return ChainerBuilt(network, ChainerNet(network, dtype), dtype)


def _targets(built: ChainerBuilt, i: int) -> dict[str, tuple[Any, str]]:
    """Canonical parameter name -> (object, attribute) of node ``i``."""
    holder = built.native.holders[i]
    if isinstance(holder, L.BatchNormalization):
        return {k: (holder, v) for k, v in _BN_NAMES.items()}
    return {k: (holder, v) for k, v in _NAMES.items() if getattr(holder, v, None) is not None}


def set_weights(built: ChainerBuilt, weights: dict[str, np.ndarray]) -> None:
    """Copy canonical tensors (keys ``<network>.<key>.<name>``; all of them or any subset)
    into the links, exactly."""
    name = built.network.name
    for i in built.native.holders:
        key = f"{name}.{built.network.infos[i].key}."
        for canonical, (obj, attr) in _targets(built, i).items():
            value = weights.get(key + canonical)
            if value is None:
                continue
            target = getattr(obj, attr)
            array = target.array if isinstance(target, chainer.Variable) else target
            array[...] = np.asarray(value, built.dtype).reshape(array.shape)


def get_weights(built: ChainerBuilt) -> dict[str, np.ndarray]:
    """Canonical tensors of the network (copies)."""
    name, out = built.network.name, {}
    for i in built.native.holders:
        key = f"{name}.{built.network.infos[i].key}."
        for canonical, (obj, attr) in _targets(built, i).items():
            target = getattr(obj, attr)
            array = target.array if isinstance(target, chainer.Variable) else target
            out[key + canonical] = np.array(array, built.dtype, copy=True)
    return out


def forward(built: ChainerBuilt, x: np.ndarray, training: bool = False) -> np.ndarray:
    """Run on NCHW numpy; training=True uses batch statistics and updates running ones."""
    with chainer.using_config("train", training), chainer.no_backprop_mode():
        y = built.native(np.ascontiguousarray(x, built.dtype))
    return np.asarray(y.array)


def set_dropout_masks(built: ChainerBuilt, masks: dict[int, np.ndarray] | None) -> None:
    """Exact Dropout: the canonical masks (layer index -> (N, *input shape)) for the next
    train-mode forwards; ``None`` clears them (the network's own generator again)."""
    net = built.native
    net.masks = {}
    if masks is None:
        return
    for i, info in enumerate(built.network.infos):
        if isinstance(info.layer, S.Dropout) and masks.get(i) is not None:
            net.masks[i] = np.ascontiguousarray(masks[i], built.dtype)


def count_params(built: ChainerBuilt) -> int:
    """Trainable parameters as Chainer counts them (``params()``; BatchNorm's running
    statistics are persistent values, not parameters)."""
    return int(sum(p.size for p in built.native.params()))
