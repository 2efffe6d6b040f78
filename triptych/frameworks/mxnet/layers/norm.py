"""BatchNorm -> Gluon's ``nn.BatchNorm`` (float32) or `ExactBatchNorm` (float64 builds);
LayerNorm over channels or the last axis (tokens), RMSNorm over the last axis, layer scale
and the fixed per-channel affine.

Gluon's momentum is PyTorch's ``1 - momentum``; its running statistics move in the
backward pass (``build.forward`` runs a zero-gradient backward for them)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.mxnet.compat import mx, nn
from triptych.frameworks.mxnet.layers.context import CONVERTERS, WEIGHT_LAYOUTS, BuildContext

#: canonical name -> Gluon BatchNorm's parameter
BN_WEIGHTS = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "running_mean",
    "running_var": "running_var",
}


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


@CONVERTERS.register(S.BatchNorm)
def batchnorm(layer: S.BatchNorm, ctx: BuildContext) -> nn.HybridBlock:
    channels = ctx.input_shape[0]
    if ctx.exact:
        return ExactBatchNorm(layer.momentum, axis=1, epsilon=layer.eps, in_channels=channels)
    return nn.BatchNorm(
        axis=1, momentum=1.0 - layer.momentum, epsilon=layer.eps, in_channels=channels
    )


@WEIGHT_LAYOUTS.register(S.BatchNorm)
def batchnorm_weights(layer: S.BatchNorm) -> dict[str, str]:
    return BN_WEIGHTS


class LayerNorm2d(nn.LayerNorm):
    """Gluon's LayerNorm (parameters ``gamma``, ``beta``) over axis 1: the channels of each
    pixel of (N, C, H, W), the features of (N, F), computed from sums: mean = sum / C, biased
    variance, (x - mean) / sqrt(var + eps) · gamma + beta. Every scalar is a double (the
    ``LayerNorm`` op keeps eps as float32), so float64 builds are exact; and it exports as
    ReduceSum (axes an input since opset 13) where the op's mx2onnx translation writes
    ReduceMean with an axes attribute, which the opset 18 conversion leaves invalid.
    ``axis=-1`` normalises the last axis instead (`LayerNorm`: each token of (N, L, C))."""

    def __init__(
        self, channels: int, rank: int, eps: float, axis: int = 1, **kwargs: object
    ) -> None:
        super().__init__(axis=axis, epsilon=eps, in_channels=channels, **kwargs)
        self.channels, self.eps, self.norm_axis = channels, float(eps), axis
        if axis == 1:
            self.param_shape = (1, -1) + (1,) * (rank - 1)
        else:  # the last axis; rank counts the per-sample axes
            self.param_shape = (1,) * rank + (-1,)

    def _alias(self) -> str:
        return "layernorm"

    def hybrid_forward(self, F, x, gamma, beta):  # Gluon passes the namespace as F
        axis = self.norm_axis
        mean = F.sum(x, axis=axis, keepdims=True) / self.channels
        centred = F.broadcast_sub(x, mean)
        var = F.sum(F.square(centred), axis=axis, keepdims=True) / self.channels
        y = F.broadcast_div(centred, F.sqrt(var + self.eps))
        y = F.broadcast_mul(y, F.reshape(gamma, shape=self.param_shape))
        return F.broadcast_add(y, F.reshape(beta, shape=self.param_shape))


class RMSNorm(nn.HybridBlock):
    """PyTorch's ``nn.RMSNorm(C, eps)`` over the last axis of (N, L, C) or (N, F):
    x / sqrt(sum(x²) / C + eps) · weight, ``weight`` (C,). Composed of ``sum`` (ReduceSum
    in ONNX, as `LayerNorm2d`), square, sqrt and broadcasting arithmetic with double scalars,
    so a float64 build is exact (MXNet 1.9 has no RMSNorm op)."""

    def __init__(self, shape: S.Shape, eps: float, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.channels, self.eps = int(shape[-1]), float(eps)
        self.param_shape = (1,) * len(shape) + (-1,)
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(self.channels,), init=mx.init.One())

    def _alias(self) -> str:
        return "rmsnorm"

    def hybrid_forward(self, F, x, weight):  # Gluon passes the namespace as F
        mean_square = F.sum(F.square(x), axis=-1, keepdims=True) / self.channels
        y = F.broadcast_div(x, F.sqrt(mean_square + self.eps))
        return F.broadcast_mul(y, F.reshape(weight, shape=self.param_shape))


class LayerScale(nn.HybridBlock):
    """x · weight per channel (axis 1), ``weight`` (C,)."""

    def __init__(self, channels: int, rank: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.param_shape = (1, -1) + (1,) * (rank - 1)
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(channels,), init=mx.init.One())

    def hybrid_forward(self, F, x, weight):  # Gluon passes the namespace as F
        return F.broadcast_mul(x, F.reshape(weight, shape=self.param_shape))


class ChannelAffine(nn.HybridBlock):
    """x · scale + offset per channel (axis 1), fixed: double scalars where one value serves
    every channel, else Gluon constants (no gradient, not weights) made in the build's dtype
    from the float64 values (a float32 constant cast to float64 would not be exact)."""

    def __init__(self, layer: S.ChannelAffine, rank: int, dtype: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        shape = (1, -1) + (1,) * (rank - 1)
        self.values = {}  # name -> a float (scalar op) or None (a constant parameter)
        with self.name_scope():
            for name, values in (("scale", layer.scale), ("offset", layer.offset)):
                if len(values) == 1:
                    self.values[name] = float(values[0])
                    continue
                value = mx.nd.array(values, dtype=dtype).reshape(shape)
                setattr(self, name, self.params.get_constant(name, value))
                self.values[name] = None

    def hybrid_forward(self, F, x, scale=None, offset=None):  # Gluon passes the namespace
        s, o = self.values["scale"], self.values["offset"]
        x = x * s if s is not None else F.broadcast_mul(x, scale)
        return x + o if o is not None else F.broadcast_add(x, offset)


@CONVERTERS.register(S.LayerNorm2d)
def layer_norm2d(layer: S.LayerNorm2d, ctx: BuildContext) -> nn.HybridBlock:
    return LayerNorm2d(ctx.input_shape[0], len(ctx.input_shape), layer.eps)


@CONVERTERS.register(S.LayerNorm)
def layer_norm(layer: S.LayerNorm, ctx: BuildContext) -> nn.HybridBlock:
    """PyTorch's ``nn.LayerNorm(C)`` over the last axis: `LayerNorm2d`'s exact composite on
    axis -1 (MXNet's ``LayerNorm`` op rounds eps to float32 and exports badly; see there)."""
    shape = ctx.input_shape
    return LayerNorm2d(shape[-1], len(shape), layer.eps, axis=-1)


@CONVERTERS.register(S.RMSNorm)
def rms_norm(layer: S.RMSNorm, ctx: BuildContext) -> nn.HybridBlock:
    return RMSNorm(ctx.input_shape, layer.eps)


@CONVERTERS.register(S.LayerScale)
def layer_scale(layer: S.LayerScale, ctx: BuildContext) -> nn.HybridBlock:
    return LayerScale(ctx.input_shape[0], len(ctx.input_shape))


@CONVERTERS.register(S.ChannelAffine)
def channel_affine(layer: S.ChannelAffine, ctx: BuildContext) -> nn.HybridBlock:
    return ChannelAffine(layer, len(ctx.input_shape), ctx.dtype)


@WEIGHT_LAYOUTS.register(S.LayerNorm2d, S.LayerNorm)
def layer_norm2d_weights(layer: S.LayerNorm2d) -> dict[str, str]:
    return {"weight": "gamma", "bias": "beta"}


@WEIGHT_LAYOUTS.register(S.LayerScale, S.RMSNorm)
def layer_scale_weights(layer: S.LayerScale | S.RMSNorm) -> dict[str, str]:
    return {"weight": "weight"}
