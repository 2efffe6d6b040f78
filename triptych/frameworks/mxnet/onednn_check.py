"""MXNet's oneDNN kernels checked on the CPU they run on: a known answer from float64.

oneDNN picks its kernels per CPU (AVX2, AVX-512, AVX-512 with BF16/FP16, AMX), so a result
measured on one machine says nothing about another. Run as a module (``python -m
triptych.frameworks.mxnet.onednn_check``, in a fresh process with oneDNN on), this computes
the forward pass and the gradients (input, weights) of every op kind triptych trains through
oneDNN, in float32 (oneDNN's kernels) and in float64 (oneDNN has no float64 kernels: MXNet's
reference kernels run), from the same seeded weights and inputs, and prints one JSON object.

An op passes when its float32 result sits within the worst-case rounding bound of a float32
sum of its reduction length K from the float64 one: ``K * eps32`` relative to the output's
largest magnitude (Higham's gamma_K; typical errors are ~sqrt(K) * eps32, far below). A
kernel that quietly computes in bfloat16 (8 mantissa bits) misses it by two orders of
magnitude, as does one that reads wrong memory. `triptych.frameworks.mxnet.compat` runs this
once per CPU model and MXNet version (cached), before MXNet is imported, and switches
oneDNN off (``MXNET_MKLDNN_ENABLED=0``) where any op fails, saying which and by how much.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)


def _cases() -> dict[str, tuple[Callable[[], object], tuple[int, ...], int]]:
    """name -> (block factory, input shape, K): K is the longest sum behind one element of
    the output or a gradient (forward: channels x kernel taps; weight gradient: batch x
    output positions; input gradient: output channels x taps)."""
    from triptych.frameworks.mxnet.compat import nn
    from triptych.frameworks.mxnet.onednn import Conv2DTranspose

    return {
        "conv 16->32 k3 s2": (lambda: nn.Conv2D(32, 3, 2, 1, in_channels=16), (16, 16, 8, 8), 256),
        "conv 1->16 k3": (lambda: nn.Conv2D(16, 3, 1, 1, in_channels=1), (16, 1, 8, 8), 1024),
        "conv_transpose 32->16 k4 s2": (
            lambda: Conv2DTranspose(16, 4, 2, 1, in_channels=32),
            (16, 32, 2, 2),
            256,
        ),
        "conv_transpose 16->1 k4 s2": (
            lambda: Conv2DTranspose(1, 4, 2, 1, in_channels=16),
            (16, 16, 4, 4),
            256,
        ),
        "batchnorm (training)": (
            lambda: nn.BatchNorm(in_channels=16, momentum=0.9, epsilon=1e-5),
            (16, 16, 4, 4),
            256,
        ),
        "dense 512->10": (lambda: nn.Dense(10, in_units=512), (16, 512), 512),
        "max_pool 2": (lambda: nn.MaxPool2D(2), (16, 8, 8, 8), 4),
    }


def _run(block: object, x: np.ndarray, grad: np.ndarray, dtype: str) -> list[np.ndarray]:
    """Forward in training mode, backward with ``grad``: [y, dx, d(param) ...] as float64."""
    from triptych.frameworks.mxnet.compat import mx

    block.cast(dtype)
    xs = mx.nd.array(x, dtype=dtype)
    xs.attach_grad()
    with mx.autograd.record():
        y = block(xs)
    y.backward(mx.nd.array(grad, dtype=dtype))
    grads = [
        p.grad().asnumpy()
        for p in block.collect_params().values()
        if p.grad_req != "null" and p._data is not None
    ]
    return [a.astype(np.float64) for a in (y.asnumpy(), xs.grad.asnumpy(), *grads)]


def check_op(name: str, make: Callable[[], object], shape: tuple[int, ...], k: int) -> dict:
    """One op's worst relative error (over output and gradients) and its bound."""
    from triptych.frameworks.mxnet.compat import mx

    rng = np.random.default_rng(sum(map(ord, name)))
    x = rng.standard_normal(shape)
    results = {}
    for dtype in ("float32", "float64"):
        mx.random.seed(0)
        block = make()
        block.initialize(mx.init.Xavier(), force_reinit=True)
        mx.nd.waitall()
        if dtype == "float32":
            start = [p.data().asnumpy() for p in block.collect_params().values()]
        else:  # the same starting weights (parameter names differ per instance: by order)
            for p, value in zip(block.collect_params().values(), start, strict=True):
                p.set_data(mx.nd.array(value))
        out_shape = block(mx.nd.array(x, dtype="float32")).shape if dtype == "float32" else None
        if dtype == "float32":
            grad = np.random.default_rng(1).standard_normal(out_shape)
        results[dtype] = _run(block, x, grad, dtype)
    worst = 0.0
    for a32, a64 in zip(results["float32"], results["float64"], strict=True):
        scale = float(np.abs(a64).max()) or 1.0
        worst = max(worst, float(np.abs(a32 - a64).max()) / scale)
    bound = k * EPS32
    return {"op": name, "rel_error": worst, "bound": bound, "ok": worst <= bound}


def main() -> int:
    """Check every op; print the JSON result (``ok`` true when all pass)."""
    from triptych.frameworks.mxnet import onednn

    ops = [check_op(name, *case) for name, case in _cases().items()]
    result = {"onednn_built_and_on": onednn.enabled(), "ops": ops, "ok": all(o["ok"] for o in ops)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("MXNET_MKLDNN_ENABLED", "1")
    sys.exit(main())
