"""MXNet 1.9.1's oneDNN (MKLDNN) fast path, on, with the two configurations it fails on cured.

The failure (reproduced by ``benchmarks/mxnet_onednn/repro.py``): the backward pass of a
``Deconvolution`` (Gluon ``Conv2DTranspose``) with **one output channel** whose input needs a
gradient raises "could not create a primitive descriptor for a reorder primitive" when its
**input channels are a multiple of the CPU's SIMD width** (16 floats on AVX-512, 8 on AVX2).
oneDNN 2.4.4 picks a blocked weight format for the backward-data primitive (for 2 output
channels: ``Bcda16b``) and has no reorder from MXNet's ``bacd`` weights into the format it
picks for one output channel. Kernel, stride, padding, spatial size, batch and bias do not
matter; the forward pass and the weight gradient alone work; SSE4.1 machines do not fail.
Every zoo model whose last layer is a ConvTranspose2d to one channel (conv decoder, GAN
generator, context encoder on grey images) hit it on its first train step.

The cure (`Conv2DTranspose`): in training, such a layer runs on its input with
one all-zero channel appended and its weights with one zero input row appended, so the
input-channel count is no longer a multiple of 8. The result is the same sum plus zero terms
(max relative difference to MXNet's reference kernels 2e-7 on outputs, 1e-6 on gradients);
the cost is one extra input channel. Imperative calls apply it only while autograd records.
A hybridized block is traced once and its graph then serves training and inference alike,
so every traced graph carries the cure except the ONNX export's (`plain_graphs`); traced
for inference and trained afterwards, an uncured graph would fail.
Zero-padding the *output* channels instead (1 -> 2, slicing channel 0) is not a cure: the
weight Concat's backward then crashes (SIGSEGV) in mxnet 1.9.1.

A second failure (``repro.py --case view``), in hybridized (cached-graph) training only:
BatchNorm on (N, C) features, then a reshape to (N, C', H, W) (triptych's Unflatten), then a
Conv2D/Conv2DTranspose fails in backward with "Check failed: !is_view" (ndarray.cc:649): the
cached graph makes the reshape's gradient a view of the convolution's oneDNN-layout gradient,
which the ops below it cannot read. Imperative training works. The cure (`fresh_gradient`):
in a traced graph (but the export's), the reshaped tensor goes through a full-range
``slice_axis`` (a plain copy, identical values) whose backward hands the reshape a
default-layout gradient. A Cast or ``+ 0`` does not help (their backward keeps the oneDNN
layout).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from triptych.frameworks.mxnet.compat import mx, nn

#: the SIMD widths (floats) of the x86 ISAs whose blocked formats trigger the failure
_SIMD_FLOATS = 8  # AVX2: 8, AVX-512: 16 (a multiple of 8)
_plain = False  # set while the ONNX export traces: graphs without the cures


@contextlib.contextmanager
def plain_graphs() -> Iterator[None]:
    """Symbolic calls inside trace the layers as they are, without the cures (the ONNX export:
    an inference graph, never trained)."""
    global _plain
    before, _plain = _plain, True
    try:
        yield
    finally:
        _plain = before


def _cure_now(F) -> bool:  # Gluon passes the namespace as F
    """Imperative: while autograd records; traced: always, except under `plain_graphs`."""
    return (not _plain) if F is mx.sym else mx.autograd.is_recording()


def enabled() -> bool:
    """Whether MXNet runs its oneDNN kernels: built with MKLDNN and not switched off by
    ``MXNET_MKLDNN_ENABLED=0`` (read by MXNet once, at import)."""
    built = mx.runtime.Features().is_enabled("MKLDNN")
    return built and os.environ.get("MXNET_MKLDNN_ENABLED", "1").strip() not in ("0", "false")


def needs_cure(out_channels: int, in_channels: int) -> bool:
    """Whether a ConvTranspose2d of these channel counts hits oneDNN's reorder failure in
    backward (one output channel, input channels a multiple of the SIMD width)."""
    return enabled() and out_channels == 1 and in_channels % _SIMD_FLOATS == 0


class Conv2DTranspose(nn.Conv2DTranspose):
    """Gluon ``Conv2DTranspose`` (same parameters, names, layout and results) that, when
    `needs_cure` says so, appends a zero input channel while autograd records (see the
    module's docstring): imperative calls while autograd records, every traced graph but the
    ONNX export's."""

    def __init__(self, channels: int, *args: object, in_channels: int = 0, **kwargs: object):
        super().__init__(channels, *args, in_channels=in_channels, **kwargs)
        self.cured = needs_cure(channels, in_channels)

    def hybrid_forward(self, F, x, weight, bias=None):  # Gluon passes the namespace as F
        if self.cured and _cure_now(F):
            x = F.concat(x, F.zeros_like(F.slice_axis(x, axis=1, begin=0, end=1)), dim=1)
            zero_row = F.zeros_like(F.slice_axis(weight, axis=0, begin=0, end=1))
            weight = F.concat(weight, zero_row, dim=0)
        return super().hybrid_forward(F, x, weight, bias)


def fresh_gradient(F, y):  # Gluon passes the namespace as F
    """``y`` itself; in a traced graph with oneDNN on (but the export's), a copy of it
    (full-range ``slice_axis``) so the gradient flowing back to ``y`` is a fresh
    default-layout array, not a view (the "!is_view" failure; see the module docstring)."""
    if F is mx.sym and not _plain and enabled():
        return F.slice_axis(y, axis=1, begin=0, end=None)
    return y
