"""Spec layer -> JAX node converters, one module per layer family (the same file names as
`triptych.common.layers` and every other backend's ``layers/``). Importing the package
registers them all in `CONVERTERS`."""

from triptych.frameworks.jax.layers import (  # noqa: F401  (registers the converters)
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
from triptych.frameworks.jax.layers.context import CONVERTERS, BuildContext, Run

__all__ = ["CONVERTERS", "BuildContext", "Run"]
