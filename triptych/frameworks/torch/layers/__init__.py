"""Spec layer -> ``nn.Module`` converters, one module per layer family (the same file names
as `triptych.common.layers` and every other backend's ``layers/``). Importing the package
registers them all in `CONVERTERS`."""

from triptych.frameworks.torch.layers import (  # noqa: F401  (registers the converters)
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
from triptych.frameworks.torch.layers.context import CONVERTERS, BuildContext

__all__ = ["CONVERTERS", "BuildContext"]
