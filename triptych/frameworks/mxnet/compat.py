"""Cures for MXNet 1.9.1 on today's stack. Import this module before ``import mxnet``.

Each cure lives here once, with its upstream issue.
"""

from __future__ import annotations

import numpy as np

# apache/mxnet#21165: mxnet 1.9.1 uses the `np.bool` alias removed in numpy 1.24.
if "bool" not in np.__dict__:
    np.bool = bool  # type: ignore[attr-defined]

import mxnet
from mxnet.gluon import nn

mx = mxnet
__all__ = ["mx", "nn"]
