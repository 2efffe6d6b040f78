"""Spec -> Gluon ``HybridSequential`` (NCHW, PyTorch weight layouts: no conversion needed).

Gluon's Dense (out, in), Conv2D OIHW and Conv2DTranspose IOHW match the canonical layouts.
Gluon's BatchNorm tracks the *biased* batch variance (PyTorch: unbiased), so after a
train-mode step running_var gets momentum·var_b instead of momentum·var_b·n/(n-1): the
backend says so with ``bn_running_var = "biased"`` and comparisons convert (see the tests).
MXNet updates running statistics in the backward pass, not the forward.

float64 builds (the oracle parity bounds come from) cast every parameter after
initialising and feed float64 inputs; oneDNN has no float64 kernels, so MXNet runs its
reference kernels. Ops that take a float32 scalar attribute would round it (BatchNorm's
momentum and epsilon, LeakyReLU's slope), so a float64 build runs them as NDArray ops with
float64 scalars: `ExactBatchNorm` (PyTorch's running-statistics rule: exact momentum,
unbiased variance, updated in the forward pass) and `_leaky_relu`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.mxnet.compat import mx, nn
from triptych.frameworks.mxnet.onednn import Conv2DTranspose, fresh_gradient


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


class ExactBatchNorm(nn.BatchNorm):
    """Gluon BatchNorm (same parameters and names) whose imperative calls run in NDArray ops
    with float64 scalars; in train mode it updates the running statistics as PyTorch does:
    ``r = (1 - momentum) * r + momentum * s`` with the exact ``momentum`` and Gluon's own
    (biased) batch variance, in the forward pass: the float64 oracle keeps MXNet's rule.
    Traced calls are Gluon's own. float64 builds use it (MXNet's op rounds momentum and
    epsilon to float32)."""

    def __init__(self, momentum: float, **kwargs: object) -> None:
        super().__init__(momentum=1.0 - momentum, **kwargs)
        self.torch_momentum = momentum

    def _alias(self) -> str:
        return "batchnorm"

    def hybrid_forward(self, F, x, gamma, beta, running_mean, running_var):  # Gluon's F
        if F is not mx.nd:
            return super().hybrid_forward(F, x, gamma, beta, running_mean, running_var)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        batch = mx.autograd.is_training() and not self._kwargs.get("use_global_stats")
        if batch:
            mean = F.mean(x, axis=1, exclude=True, keepdims=True)
            centred = F.broadcast_sub(x, mean)
            var = F.mean(F.square(centred), axis=1, exclude=True, keepdims=True)
        else:
            centred = F.broadcast_sub(x, running_mean.reshape(shape))
            var = running_var.reshape(shape)
        scale = F.broadcast_div(gamma.reshape(shape), F.sqrt(var + self._kwargs["eps"]))
        y = F.broadcast_add(F.broadcast_mul(centred, scale), beta.reshape(shape))
        if not batch:
            return y
        with mx.autograd.pause():
            m = self.torch_momentum
            running_mean[:] = running_mean * (1.0 - m) + mean.reshape((-1,)) * m
            running_var[:] = running_var * (1.0 - m) + var.reshape((-1,)) * m
        return y


class Merge(nn.HybridBlock):
    """Add (elementwise sum) or Concat (along a canonical NCHW axis) of several inputs."""

    def __init__(self, layer: S.Layer, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.concat_axis = layer.axis if isinstance(layer, S.Concat) else None

    def hybrid_forward(self, F, *xs):  # Gluon passes the namespace as F
        if self.concat_axis is not None:
            return F.concat(*xs, dim=self.concat_axis)
        return F.add_n(*xs) if len(xs) > 2 else F.elemwise_add(xs[0], xs[1])


class GraphBlock(nn.HybridBlock):
    """A graph network: one child block per node (registered in node order), run in
    topological order. Iterating yields the blocks in node order, as HybridSequential does."""

    def __init__(self, network: S.Network, blocks: list[nn.HybridBlock], **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.sources = [info.inputs for info in network.infos]
        self.output = network.output
        self.blocks = blocks
        for i, block in enumerate(blocks):
            self.register_child(block, f"node{i}")

    def __iter__(self):
        return iter(self.blocks)

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, index: int) -> nn.HybridBlock:
        return self.blocks[index]

    def hybrid_forward(self, F, x):  # Gluon passes the namespace as F
        outs = []
        for block, sources in zip(self.blocks, self.sources, strict=True):
            outs.append(block(*[x if s == -1 else outs[s] for s in sources]))
        return outs[self.output]


def _upsample(layer: S.Upsample, shape: S.Shape) -> nn.HybridLambda:
    scale = int(layer.scale)
    if layer.mode == "nearest":
        return nn.HybridLambda(
            lambda F, x: F.UpSampling(x, scale=scale, sample_type="nearest", num_args=1)
        )
    h, w = shape[1] * scale, shape[2] * scale
    return nn.HybridLambda(
        lambda F, x: F.contrib.BilinearResize2D(x, height=h, width=w, align_corners=False)
    )


def _leaky_relu(slope: float) -> nn.HybridLambda:
    """PyTorch's LeakyReLU with a float64 slope (x if x > 0 else slope * x; the gradient at
    0 is ``slope``, as PyTorch's); MXNet's op keeps its slope as float32."""
    return nn.HybridLambda(lambda F, x: F.where(x > 0, x, x * slope))


def _max_pool(layer: S.MaxPool2d) -> nn.HybridBlock:
    return nn.MaxPool2D(layer.kernel, layer.effective_stride, layer.padding)


@dataclass
class GluonBuilt:
    network: S.Network
    native: nn.HybridSequential | GraphBlock
    holders: dict[int, nn.HybridBlock] = field(default_factory=dict)
    dtype: str = "float32"


def _unflatten(shape: tuple[int, int, int]) -> nn.HybridLambda:
    c, h, w = shape

    def reshape(F, x):
        return fresh_gradient(F, F.reshape(x, shape=(-1, c, h, w)))  # see onednn.py

    return nn.HybridLambda(reshape)


def _block(layer: S.Layer, shape: S.Shape, dtype: str = "float32") -> nn.HybridBlock:
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
        return Conv2DTranspose(  # oneDNN's reorder failure cured (see onednn.py)
            layer.out_channels,
            layer.kernel,
            layer.stride,
            layer.padding,
            in_channels=shape[0],
            use_bias=layer.bias,
        )
    if isinstance(layer, S.BatchNorm) and dtype != "float32":
        return ExactBatchNorm(layer.momentum, axis=1, epsilon=layer.eps, in_channels=shape[0])
    if isinstance(layer, S.BatchNorm):
        return nn.BatchNorm(
            axis=1, momentum=1.0 - layer.momentum, epsilon=layer.eps, in_channels=shape[0]
        )
    if isinstance(layer, S.ReLU):
        return nn.Activation("relu")
    if isinstance(layer, S.LeakyReLU) and dtype != "float32":
        return _leaky_relu(layer.negative_slope)
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
        return _max_pool(layer)
    if isinstance(layer, S.AvgPool2d):
        return nn.AvgPool2D(
            layer.kernel, layer.effective_stride, layer.padding, count_include_pad=True
        )
    if isinstance(layer, S.GlobalAvgPool):
        # a global pooling + flatten exports as GlobalAveragePool (mean() as ReduceMean with
        # an axes attribute, which the opset 18 conversion leaves invalid)
        return nn.HybridLambda(
            lambda F, x: F.flatten(F.Pooling(x, kernel=(1, 1), global_pool=True, pool_type="avg"))
        )
    if isinstance(layer, S.Identity):
        return nn.HybridLambda(lambda F, x: F.identity(x))  # an op, so the export has a node
    if isinstance(layer, S.Upsample):
        return _upsample(layer, shape)
    if isinstance(layer, S.Add | S.Concat):
        return Merge(layer)
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


def build_network(network: S.Network, dtype: str = "float32") -> GluonBuilt:
    """Build and initialise ``network`` in ``dtype`` (float32 or float64; values are
    overwritten by `set_weights`): a ``HybridSequential`` for a chain, a `GraphBlock` for a
    graph."""
    holders: dict[int, nn.HybridBlock] = {}
    if network.is_chain:
        native = nn.HybridSequential(prefix=f"{network.name}_")
        with native.name_scope():
            blocks = [_block(info.layer, info.input_shape, dtype) for info in network.infos]
            for block in blocks:
                native.add(block)
    else:
        scope = nn.HybridSequential(prefix=f"{network.name}_")
        with scope.name_scope():
            blocks = [_block(info.layer, info.input_shape, dtype) for info in network.infos]
            native = GraphBlock(network, blocks, prefix="graph_")
    for i, info in enumerate(network.infos):
        if info.layer.param_shapes(info.input_shape):
            holders[i] = blocks[i]
    native.initialize(mx.init.Zero())
    if dtype != "float32":
        native.cast(dtype)
    return GluonBuilt(network, native, holders, dtype)


def set_weights(built: GluonBuilt, weights: dict[str, np.ndarray]) -> None:
    """Copy canonical tensors into the blocks' parameters, exactly."""
    name = built.network.name
    for i, block in built.holders.items():
        info = built.network.infos[i]
        for canon, attr in _param_map(info.layer).items():
            key = f"{name}.{info.key}.{canon}"
            if key in weights:
                getattr(block, attr).set_data(mx.nd.array(weights[key], dtype=built.dtype))


def get_weights(built: GluonBuilt) -> dict[str, np.ndarray]:
    """Canonical tensors of the blocks."""
    name, out = built.network.name, {}
    for i, block in built.holders.items():
        info = built.network.infos[i]
        for canon, attr in _param_map(info.layer).items():
            param = getattr(block, attr, None)
            if param is not None:
                out[f"{name}.{info.key}.{canon}"] = param.data().asnumpy().copy()
    return out


def forward(built: GluonBuilt, x: np.ndarray, training: bool = False) -> np.ndarray:
    """Run on NCHW numpy; training=True uses batch statistics and updates running ones."""
    data = mx.nd.array(np.asarray(x, built.dtype), dtype=built.dtype)
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
            block.mask = None if m is None else mx.nd.array(m, dtype=built.dtype)


def count_params(built: GluonBuilt) -> int:
    """Trainable parameters as Gluon counts them (grad_req != 'null')."""
    return int(
        sum(
            np.prod(p.shape) for p in built.native.collect_params().values() if p.grad_req != "null"
        )
    )
