"""Spec -> Gluon ``HybridSequential`` (NCHW, PyTorch weight layouts: no conversion needed).

Gluon's Dense (out, in), Conv2D OIHW and Conv2DTranspose IOHW match the canonical layouts.
Gluon's BatchNorm tracks the *biased* batch variance (PyTorch: unbiased), so after a
train-mode step running_var gets momentum·var_b instead of momentum·var_b·n/(n-1): the
backend says so with ``bn_running_var = "biased"`` and comparisons convert (see the tests).
MXNet updates running statistics in the backward pass, not the forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.mxnet.compat import mx, nn


class MaskedDropout(nn.Dropout):
    """Gluon Dropout that, recording in train mode with a mask set (`set_dropout_masks`),
    multiplies by that mask (exact Dropout, `triptych.common.dropout`); otherwise MXNet's own
    Dropout. Inference is the identity. The mask applies on the imperative path only (these
    blocks are not hybridized in training, except the benchmarks' tuned step); symbolic
    calls, the ONNX export included, see plain ``nn.Dropout``. Its name prefix stays
    ``dropout`` so exported node names do not change."""

    def __init__(self, rate: float, **kwargs: object) -> None:
        super().__init__(rate, **kwargs)
        self.mask = None

    def _alias(self) -> str:
        return "dropout"

    def hybrid_forward(self, F, x):  # Gluon passes the namespace as F
        if self.mask is not None and F is mx.nd and mx.autograd.is_training():
            return x * self.mask
        return super().hybrid_forward(F, x)


@dataclass
class GluonBuilt:
    network: S.Network
    native: nn.HybridSequential
    holders: dict[int, nn.HybridBlock] = field(default_factory=dict)


def _unflatten(shape: tuple[int, int, int]) -> nn.HybridLambda:
    c, h, w = shape

    def reshape(F, x):
        return F.reshape(x, shape=(-1, c, h, w))

    return nn.HybridLambda(reshape)


def _block(layer: S.Layer, shape: S.Shape) -> nn.HybridBlock:
    if isinstance(layer, S.Dense):
        return nn.Dense(layer.units, use_bias=layer.bias, flatten=False, in_units=shape[0])
    if isinstance(layer, S.Conv2d):
        return nn.Conv2D(
            layer.out_channels,
            layer.kernel,
            layer.stride,
            layer.padding,
            in_channels=shape[0],
            use_bias=layer.bias,
        )
    if isinstance(layer, S.ConvTranspose2d):
        return nn.Conv2DTranspose(
            layer.out_channels,
            layer.kernel,
            layer.stride,
            layer.padding,
            in_channels=shape[0],
            use_bias=layer.bias,
        )
    if isinstance(layer, S.BatchNorm):
        return nn.BatchNorm(
            axis=1, momentum=1.0 - layer.momentum, epsilon=layer.eps, in_channels=shape[0]
        )
    if isinstance(layer, S.ReLU):
        return nn.Activation("relu")
    if isinstance(layer, S.LeakyReLU):
        return nn.LeakyReLU(layer.negative_slope)
    if isinstance(layer, S.Sigmoid):
        return nn.Activation("sigmoid")
    if isinstance(layer, S.Tanh):
        return nn.Activation("tanh")
    if isinstance(layer, S.Dropout):
        return MaskedDropout(layer.p)
    if isinstance(layer, S.Flatten):
        return nn.Flatten() if len(shape) == 3 else nn.HybridLambda(lambda F, x: x)
    if isinstance(layer, S.Unflatten):
        return _unflatten(layer.shape)
    if isinstance(layer, S.MaxPool2d):
        return nn.MaxPool2D(layer.kernel, layer.effective_stride, 0)
    raise TypeError(f"mxnet backend cannot build layer {layer!r}")


_PARAMS = {"weight": "weight", "bias": "bias"}
_BN_PARAMS = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "running_mean",
    "running_var": "running_var",
}


def _param_map(layer: S.Layer) -> dict[str, str]:
    return _BN_PARAMS if isinstance(layer, S.BatchNorm) else _PARAMS


def build_network(network: S.Network) -> GluonBuilt:
    """Build and initialise ``network`` (values are overwritten by `set_weights`)."""
    seq = nn.HybridSequential(prefix=f"{network.name}_")
    holders: dict[int, nn.HybridBlock] = {}
    with seq.name_scope():
        for i, info in enumerate(network.infos):
            block = _block(info.layer, info.input_shape)
            seq.add(block)
            if info.layer.param_shapes(info.input_shape):
                holders[i] = block
    seq.initialize(mx.init.Zero())
    return GluonBuilt(network, seq, holders)


def set_weights(built: GluonBuilt, weights: dict[str, np.ndarray]) -> None:
    """Copy canonical tensors into the blocks' parameters, exactly."""
    name = built.network.name
    for i, block in built.holders.items():
        layer = built.network.infos[i].layer
        for canon, attr in _param_map(layer).items():
            key = f"{name}.{i}.{canon}"
            if key in weights:
                getattr(block, attr).set_data(mx.nd.array(weights[key], dtype="float32"))


def get_weights(built: GluonBuilt) -> dict[str, np.ndarray]:
    """Canonical tensors of the blocks."""
    name, out = built.network.name, {}
    for i, block in built.holders.items():
        layer = built.network.infos[i].layer
        for canon, attr in _param_map(layer).items():
            param = getattr(block, attr, None)
            if param is not None:
                out[f"{name}.{i}.{canon}"] = param.data().asnumpy().copy()
    return out


def forward(built: GluonBuilt, x: np.ndarray, training: bool = False) -> np.ndarray:
    """Run on NCHW numpy; training=True uses batch statistics and updates running ones."""
    data = mx.nd.array(np.asarray(x, np.float32), dtype="float32")
    if not training:
        return built.native(data).asnumpy()
    if not any(isinstance(layer, S.BatchNorm) for layer in built.network.layers):
        with mx.autograd.train_mode():
            return built.native(data).asnumpy()
    # MXNet updates BatchNorm running statistics in the *backward* pass; a zero-gradient
    # backward makes a train-mode forward update them, as in PyTorch and Keras.
    data.attach_grad()
    with mx.autograd.record(train_mode=True):
        y = built.native(data)
    y.backward(mx.nd.zeros_like(y))
    return y.asnumpy()


def set_dropout_masks(built: GluonBuilt, masks: dict[int, np.ndarray] | None) -> None:
    """Exact Dropout: canonical masks (layer index -> (N, *input shape)) for the next
    train-mode forwards; ``None`` clears them (MXNet's own RNG again)."""
    for i, block in enumerate(built.native):
        if isinstance(block, MaskedDropout):
            m = None if masks is None else masks.get(i)
            block.mask = None if m is None else mx.nd.array(m, dtype="float32")


def count_params(built: GluonBuilt) -> int:
    """Trainable parameters as Gluon counts them (grad_req != 'null')."""
    return int(
        sum(
            np.prod(p.shape) for p in built.native.collect_params().values() if p.grad_req != "null"
        )
    )
