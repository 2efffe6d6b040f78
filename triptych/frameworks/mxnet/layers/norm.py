"""BatchNorm -> Gluon's ``nn.BatchNorm`` (float32) or `ExactBatchNorm` (float64 builds).

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
