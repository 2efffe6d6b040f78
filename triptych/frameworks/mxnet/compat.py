"""Cures for MXNet 1.9.1 on today's stack. Import this module before ``import mxnet``.

Each cure lives here once, with its upstream issue.
"""

from __future__ import annotations

import os

import numpy as np

# oneDNN (MKLDNN) Deconvolution backward in mxnet 1.9.1 fails intermittently with "could not
# create a primitive descriptor for a reorder primitive" (apache/mxnet#15635, #21199 family):
# seen here on ConvTranspose2d layers whose input needs a gradient, e.g. every DCGAN
# generator and conv decoder. MXNet reads this switch once, at import; the native CPU kernels
# are used instead. Set MXNET_MKLDNN_ENABLED=1 yourself to opt back in for inference.
os.environ.setdefault("MXNET_MKLDNN_ENABLED", "0")
# ...and without oneDNN, ops that prefer its storage log a fallback warning on every call.
os.environ.setdefault("MXNET_STORAGE_FALLBACK_LOG_VERBOSE", "0")

# apache/mxnet#21165: mxnet 1.9.1 uses the `np.bool` alias removed in numpy 1.24.
if "bool" not in np.__dict__:
    np.bool = bool  # type: ignore[attr-defined]

import mxnet
from mxnet.gluon import nn

mx = mxnet
__all__ = ["mx", "nn"]
