"""Dropout -> `MaskedDropout` (exact masks in training parity, MXNet's own otherwise)."""

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
