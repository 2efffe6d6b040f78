"""Spec layer -> Sonnet node converters, one module per layer family (the same file names as
`triptych.common.layers` and every other backend's ``layers/``), each family's weight
layouts next to its converters. Weighted nodes are Sonnet's own modules (``snt.Linear``,
``snt.Conv2D``, ``snt.DepthwiseConv2D``, ``snt.Conv2DTranspose``, ``snt.LayerNorm``,
``snt.Embed``) or triptych's where Sonnet has none (`conv.GroupedConv2D`,
`conv.TorchConv2DTranspose`, `norm.TorchBatchNorm`, `norm.ChannelLayerNorm`,
`norm.ChannelScale`, `norm.RMSNorm`, `activation.PReLU`,
`dropout.MaskedDropout`, `attention.ClassToken`, `attention.PositionEmbedding`,
`attention.SelfAttention`); the parameter-free ops are plain TensorFlow on NHWC tensors
(token tensors (N, L, C): canonical as they are).
Importing the package registers them all in `CONVERTERS` and `WEIGHT_LAYOUTS`."""

from triptych.frameworks.sonnet.layers import (  # noqa: F401  (registers the converters)
    activation,
    attention,
    conv,
    dense,
    dropout,
    merge,
    norm,
    pad,
    pool,
    reduce,
    reshape,
    resize,
)
from triptych.frameworks.sonnet.layers.context import (
    CONVERTERS,
    WEIGHT_LAYOUTS,
    BuildContext,
    SonnetNode,
)

__all__ = ["CONVERTERS", "WEIGHT_LAYOUTS", "BuildContext", "SonnetNode"]
