"""Spec layer -> Gluon block converters, one module per layer family (the same file names as
`triptych.common.layers` and every other backend's ``layers/``), and the weight layouts of
the weighted ones. Importing the package registers them all in `CONVERTERS` and
`WEIGHT_LAYOUTS`."""

from triptych.frameworks.mxnet.layers import (  # noqa: F401  (registers the converters)
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
from triptych.frameworks.mxnet.layers.context import CONVERTERS, WEIGHT_LAYOUTS, BuildContext

__all__ = ["CONVERTERS", "WEIGHT_LAYOUTS", "BuildContext"]
