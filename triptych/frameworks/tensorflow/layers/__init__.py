"""Spec layer -> Keras layers converters, one module per layer family (the same file names as
`triptych.common.layers` and every other backend's ``layers/``), each family's weight
layouts next to its converters. Importing the package registers them all in `CONVERTERS`
and `WEIGHT_LAYOUTS`."""

from triptych.frameworks.tensorflow.layers import (  # noqa: F401  (registers the converters)
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
from triptych.frameworks.tensorflow.layers.context import (
    CONVERTERS,
    WEIGHT_LAYOUTS,
    BuildContext,
    KerasNode,
)

__all__ = ["CONVERTERS", "WEIGHT_LAYOUTS", "BuildContext", "KerasNode"]
