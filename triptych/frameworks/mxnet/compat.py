"""Cures for MXNet 1.9.1 on today's stack. Import this module before ``import mxnet``.

Each cure lives here once, with its upstream issue.
"""

from __future__ import annotations

import os

import numpy as np

from triptych.frameworks.mxnet import onednn_policy

# oneDNN (MKLDNN) stays on where its known-answer check passes on this CPU (`onednn_policy`,
# decided here because MXNet reads MXNET_MKLDNN_ENABLED once, at import; set it yourself to
# choose). Its one crash (Deconvolution backward with one output channel, "could not create
# a primitive descriptor for a reorder primitive"; apache/mxnet #15635, #21199 family) is
# cured in `onednn.py`. Ops without a oneDNN kernel log a storage-fallback warning on every
# call unless this is 0.
ONEDNN = onednn_policy.apply()
os.environ.setdefault("MXNET_STORAGE_FALLBACK_LOG_VERBOSE", "0")

# apache/mxnet#21165: mxnet 1.9.1 uses the `np.bool` alias removed in numpy 1.24.
if "bool" not in np.__dict__:
    np.bool = bool  # type: ignore[attr-defined]

import mxnet  # noqa: E402  (after the oneDNN verdict above, which MXNet reads at import)
from mxnet.gluon import nn  # noqa: E402

mx = mxnet
__all__ = ["ONEDNN", "mx", "nn"]
