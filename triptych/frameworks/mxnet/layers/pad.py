"""Pad -> `ImagePad` (MXNet's ``pad``: constant, reflect and edge on the H and W of NCHW).

``pad``'s ``reflect`` mirrors without repeating the edge pixel and ``edge`` repeats it, as
PyTorch's ReflectionPad2d and ReplicationPad2d (and ONNX Pad's modes of the same names);
mx2onnx writes it as an ONNX ``Pad`` with the pads as an input."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.mxnet.compat import nn
from triptych.frameworks.mxnet.layers.context import CONVERTERS, BuildContext


class ImagePad(nn.HybridBlock):
    """Pads H and W by ``pads`` (top, left, bottom, right) in ``mode`` (the spec's, which
    are ``pad``'s own names); ``value`` fills in constant mode."""

    def __init__(self, pads: S.Pads, mode: str, value: float, **kwargs: object) -> None:
        super().__init__(**kwargs)
        top, left, bottom, right = pads
        self.pad_width = (0, 0, 0, 0, top, bottom, left, right)  # (before, after) per axis
        self.mode, self.value = mode, value

    def _alias(self) -> str:
        return "pad"

    def hybrid_forward(self, F, x):  # Gluon passes the namespace as F
        if not any(self.pad_width):
            return x
        if self.mode == "constant":
            return F.pad(x, mode="constant", pad_width=self.pad_width, constant_value=self.value)
        return F.pad(x, mode=self.mode, pad_width=self.pad_width)


@CONVERTERS.register(S.Pad)
def pad(layer: S.Pad, ctx: BuildContext) -> nn.HybridBlock:
    return ImagePad(layer.pads, layer.mode, layer.value)  # type: ignore[arg-type]
