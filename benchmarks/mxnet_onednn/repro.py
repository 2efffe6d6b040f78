"""Minimal reproducers of MXNet 1.9.1's two oneDNN training failures, and their cures.

    .venv/bin/python benchmarks/mxnet_onednn/repro.py             # both cases, a table each
    .venv/bin/python benchmarks/mxnet_onednn/repro.py --case reorder
    DNNL_MAX_CPU_ISA=AVX2 .venv/bin/python benchmarks/mxnet_onednn/repro.py --case reorder

Each trial runs in its own process (a failed oneDNN primitive can leave MXNet unusable, and
one variant segfaults), with ``MXNET_MKLDNN_ENABLED=1`` set before ``import mxnet``.

``reorder``: ``nd.Deconvolution`` (k4 s2 p1, 4x4 -> 8x8, batch 8, no bias) forward + backward
with gradients for input and weights, over output channels 1-2 and input channels 1-64.
Fails ("could not create a primitive descriptor for a reorder primitive") exactly where
num_filter == 1 and in_channels is a multiple of the SIMD width (16 on AVX-512, 8 on AVX2).
Cured: one zero input channel appended (`triptych.frameworks.mxnet.onednn`); a zero
*output* channel appended (and sliced off) crashes instead.

``view``: a hybridized Dense(256) -> BatchNorm -> reshape (64, 2, 2) -> Conv2DTranspose(8)
train step fails in backward ("Check failed: !is_view"); without the BatchNorm, or not
hybridized, it works. Cured: a full-range ``slice_axis`` copy after the reshape.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

TRIAL = r"""
import os, sys
os.environ["MXNET_MKLDNN_ENABLED"] = "1"
import numpy as np
if "bool" not in np.__dict__:
    np.bool = bool  # apache/mxnet#21165
import mxnet as mx
nd = mx.nd
case, cin, cout, cure = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
cured = cure != "none"
rng = np.random.default_rng(0)
if case == "reorder":
    x = nd.array(rng.standard_normal((8, cin, 4, 4)).astype(np.float32))
    w = nd.array(rng.standard_normal((cin, cout, 4, 4)).astype(np.float32) * 0.1)
    x.attach_grad(); w.attach_grad()
    with mx.autograd.record():
        xi, wi, n = x, w, cout
        if cure == "pad_in":  # triptych's cure: one zero input channel
            xi = nd.concat(x, nd.zeros((8, 1, 4, 4)), dim=1)
            wi = nd.concat(w, nd.zeros((1, cout, 4, 4)), dim=0)
        if cure == "pad_out":  # not a cure: one zero output channel, sliced off
            wi, n = nd.concat(w, nd.zeros((cin, 1, 4, 4)), dim=1), cout + 1
        y = nd.Deconvolution(xi, wi, kernel=(4, 4), stride=(2, 2), pad=(1, 1),
                             num_filter=n, no_bias=True)
        y = nd.slice_axis(y, axis=1, begin=0, end=cout)
        loss = nd.mean(y * y)
    loss.backward()
    nd.waitall()
else:
    from mxnet.gluon import nn
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(256, flatten=False, in_units=32))
        if cin:  # cin != 0: with the BatchNorm
            net.add(nn.BatchNorm(in_channels=256))
        net.add(nn.HybridLambda(
            (lambda F, h: F.slice_axis(F.reshape(h, shape=(-1, 64, 2, 2)), axis=1, begin=0,
                                       end=None))
            if cured else (lambda F, h: F.reshape(h, shape=(-1, 64, 2, 2)))))
        net.add(nn.Conv2DTranspose(8, 4, 2, 1, in_channels=64))
    net.initialize(mx.init.Normal(0.1))
    if cout:  # cout != 0: hybridized
        net.hybridize(static_alloc=True, static_shape=True)
    trainer = mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01})
    x = nd.array(rng.random((8, 32)).astype(np.float32))
    for _ in range(2):
        with mx.autograd.record():
            loss = nd.mean(net(x) ** 2)
        loss.backward()
        trainer.step(1)
    nd.waitall()
print("ok")
"""


def trial(case: str, cin: int, cout: int, cure: str) -> str:
    """'ok', or the last line of MXNet's error (or the signal) of one trial in a fresh process."""
    proc = subprocess.run(
        [sys.executable, "-c", TRIAL, case, str(cin), str(cout), cure],
        capture_output=True,
        text=True,
        env={**os.environ, "MXNET_STORAGE_FALLBACK_LOG_VERBOSE": "0"},
    )
    if proc.returncode == 0 and proc.stdout.strip().endswith("ok"):
        return "ok"
    if proc.returncode < 0:
        return f"killed by signal {-proc.returncode}"
    lines = [ln for ln in proc.stderr.strip().splitlines() if "Error" in ln or "failed" in ln]
    return lines[-1].strip() if lines else f"exit {proc.returncode}"


def reorder_table() -> None:
    cins = [1, 7, 8, 9, 15, 16, 17, 24, 32, 33, 48, 64]
    print("Deconvolution backward (input and weight gradients), oneDNN on; F = reorder failure")
    for cure in ("none", "pad_in", "pad_out"):
        for cout in (1, 2) if cure == "none" else (1,):
            cells = []
            for cin in cins if cure != "pad_out" else [8, 16]:
                r = trial("reorder", cin, cout, cure)
                cells.append(f"{cin}:{'ok' if r == 'ok' else 'F'}")
                if r != "ok" and "reorder" not in r:
                    cells[-1] += f" ({r})"
            print(f"cure={cure:8} out_channels={cout}  in_channels " + " ".join(cells))


def view_table() -> None:
    print("Dense -> [BatchNorm] -> reshape -> Conv2DTranspose, 2 SGD steps, oneDNN on")
    for bn in (1, 0):
        for hybrid in (1, 0):
            for cured in (False, True):
                r = trial("view", bn, hybrid, "slice" if cured else "none")
                print(
                    f"  batchnorm={bool(bn)!s:5} hybridized={bool(hybrid)!s:5} "
                    f"cured={cured!s:5}  {r}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["reorder", "view", "all"], default="all")
    args = parser.parse_args()
    isa = os.environ.get("DNNL_MAX_CPU_ISA", "the CPU's best")
    print(f"oneDNN ISA: {isa}")
    if args.case in ("reorder", "all"):
        reorder_table()
    if args.case in ("view", "all"):
        view_table()


if __name__ == "__main__":
    main()
