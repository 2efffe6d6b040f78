"""Dropout -> `MaskedDropout`, StochasticDepth -> `MaskedStochasticDepth` (exact masks in
training parity, MXNet's own Dropout otherwise)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.mxnet.compat import mx, nn
from triptych.frameworks.mxnet.layers.context import CONVERTERS, BuildContext


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


@CONVERTERS.register(S.Dropout)
def dropout(layer: S.Dropout, ctx: BuildContext) -> nn.HybridBlock:
    return MaskedDropout(layer.p)


class MaskedStochasticDepth(MaskedDropout):
    """Stochastic depth (torchvision's ``stochastic_depth``, "row" mode): in train mode each
    sample is kept with probability 1-p and scaled by 1/(1-p), by the set mask (batch, 1,
    ..., 1) when there is one (broadcast), else by MXNet's own Dropout with ``axes`` = every
    per-sample axis (its variational mode: one keep shared by the whole sample). Inference
    is the identity; the export sees that Dropout (an Identity node)."""

    def __init__(self, rate: float, rank: int, **kwargs: object) -> None:
        super().__init__(rate, axes=tuple(range(1, rank + 1)), **kwargs)


@CONVERTERS.register(S.StochasticDepth)
def stochastic_depth(layer: S.StochasticDepth, ctx: BuildContext) -> nn.HybridBlock:
    return MaskedStochasticDepth(layer.p, len(ctx.input_shape))
