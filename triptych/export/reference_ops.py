"""Cures for ``onnx.reference`` (the pure-numpy ONNX evaluator triptych uses as an
independent implementation and, in float64, as the oracle of a file): ops it gets wrong,
each replaced by a subclass given to ``ReferenceEvaluator(..., new_ops=CURED_OPS)``.

* ``ConvTranspose`` with ``group`` > 1 (onnx 1.23): its per-group loop writes each image's
  whole group output into a one-channel slice (``could not broadcast input array from shape
  (2, 12, 12) into shape (1, 12, 12)``). Grouped, it runs as ``group`` ungrouped transposed
  convolutions of the channel slices, concatenated: the definition.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx.reference.ops.op_conv_transpose import ConvTranspose as _ConvTranspose


class ConvTranspose(_ConvTranspose):
    """``onnx.reference``'s ConvTranspose, grouped by channel slices."""

    op_domain = ""

    def _run(self, X: np.ndarray, W: np.ndarray, B: np.ndarray | None = None, **attrs: Any):
        group = int(attrs.get("group") or 1)
        if group == 1:
            return super()._run(X, W, B, **attrs)
        attrs = {**attrs, "group": 1}
        xs, ws = np.split(X, group, axis=1), np.split(W, group, axis=0)
        bs = np.split(B, group) if B is not None else [None] * group
        outs = [super(ConvTranspose, self)._run(x, w, b, **attrs)[0] for x, w, b in zip(
            xs, ws, bs, strict=True)]  # fmt: skip
        return (np.concatenate(outs, axis=1),)


#: what to pass as ``new_ops`` to every ``ReferenceEvaluator``
CURED_OPS = [ConvTranspose]


def reference_evaluator(model: Any, **kwargs: Any):
    """``onnx.reference.ReferenceEvaluator(model)`` with `CURED_OPS`."""
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(model, new_ops=CURED_OPS, **kwargs)
