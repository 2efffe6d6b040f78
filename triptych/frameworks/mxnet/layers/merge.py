"""Add and Concat -> `Merge` (several inputs)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.mxnet.compat import nn
from triptych.frameworks.mxnet.layers.context import CONVERTERS, BuildContext


class Merge(nn.HybridBlock):
    """Add (elementwise sum) or Concat (along a canonical NCHW axis) of several inputs."""

    def __init__(self, concat_axis: int | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.concat_axis = concat_axis

    def hybrid_forward(self, F, *xs):  # Gluon passes the namespace as F
        if self.concat_axis is not None:
            return F.concat(*xs, dim=self.concat_axis)
        return F.add_n(*xs) if len(xs) > 2 else F.elemwise_add(xs[0], xs[1])


@CONVERTERS.register(S.Add)
def add(layer: S.Add, ctx: BuildContext) -> nn.HybridBlock:
    return Merge()


@CONVERTERS.register(S.Concat)
def concat(layer: S.Concat, ctx: BuildContext) -> nn.HybridBlock:
    return Merge(layer.axis)
