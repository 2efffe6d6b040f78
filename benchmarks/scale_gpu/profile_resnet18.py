"""Where the time of triptych's ResNet-18 (3x32x32, CIFAR stem) train step goes on a GPU: the
scale suite's cell (batch 64, Adam, MSE, strict fp32) under torch.profiler, its CUDA kernels
summed by kind, the GPU's busy time against the step's wall time, and the same step with
TF32 allowed (PyTorch's default for cuDNN convolutions). Run on a lent GPU machine from the
repository root: ``python3 benchmarks/scale_gpu/profile_resnet18.py OUT.md``."""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from triptych.common import zoo_scale
from triptych.common.recipe import Optimizer
from triptych.frameworks.torch import speed
from triptych.model import create

BATCH, STEPS = 64, int(os.environ.get("STEPS", 20))
DEVICE = os.environ.get("DEVICE", "cuda")
KINDS = (
    (
        "convolution",
        ("conv", "cudnn", "implicit", "gemm", "sm90", "xmma", "cutlass", "winograd", "fft"),
    ),
    ("batch norm", ("batch_norm", "bn_", "batchnorm")),
    ("Adam (foreach)", ("foreach", "multi_tensor")),
    ("elementwise / reduce", ("elementwise", "reduce", "vectorized", "unrolled")),
)


def kind_of(name: str) -> str:
    low = name.lower()
    for kind, keys in KINDS:
        if any(k in low for k in keys):
            return kind
    return "other"


def step_fn(tf32: bool):
    spec = zoo_scale.create_spec("resnet18", image_shape=(3, 32, 32), stem="cifar")
    model = create(spec, framework="torch", seed=0)
    speed.to_device(model.built_chain(), DEVICE)
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    rng = np.random.default_rng(0)
    x = speed.device_tensor(rng.random((BATCH, 3, 32, 32), dtype=np.float32), DEVICE)
    t = speed.device_tensor(rng.random((BATCH, *spec.output_shape), dtype=np.float32), DEVICE)
    step = model.backend.train.make_trainer(model.built_chain(), "mse", Optimizer("adam", 1e-4))
    flops = 3 * spec.networks["net"].flops * BATCH
    return (lambda: step(x, t)), flops


def timed(fn) -> float:
    for _ in range(5):
        fn()
    samples = []
    for _ in range(STEPS):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return float(np.median(samples))


def main(out: str) -> None:
    lines = ["# ResNet-18 32x32 train step, batch 64, on " + speed.device_name(DEVICE), ""]
    fn, flops = step_fn(tf32=False)
    wall = timed(fn)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(STEPS):
            fn()
    per_kind: dict[str, float] = defaultdict(float)
    top: dict[str, float] = defaultdict(float)
    for e in prof.key_averages():
        dev = getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0)
        if e.device_type.name == "CUDA" or "cuda" in str(e.device_type).lower():
            per_kind[kind_of(e.key)] += dev / STEPS / 1000
            top[e.key] += dev / STEPS / 1000
    busy = max(sum(per_kind.values()), 1e-9)
    lines += [
        f"Strict fp32 (TF32 off): step {wall * 1000:.2f} ms wall (median of {STEPS}), "
        f"{flops / wall / 1e12:.1f} TFLOP/s; GPU kernels busy {busy:.2f} ms per step "
        f"({busy / (wall * 1000):.0%} of the wall time); kernels alone would give "
        f"{flops / (busy / 1000) / 1e12:.1f} TFLOP/s.",
        "",
        "| kernels | ms per step | share of GPU time |",
        "|---|---|---|",
        *(
            f"| {k} | {v:.2f} | {v / busy:.0%} |"
            for k, v in sorted(per_kind.items(), key=lambda kv: -kv[1])
        ),
        "",
        "Ten most expensive kernels (ms per step):",
        "",
        *(f"- {v:.3f} `{k[:110]}`" for k, v in sorted(top.items(), key=lambda kv: -kv[1])[:10]),
        "",
    ]
    fn32, _ = step_fn(tf32=True)
    wall32 = timed(fn32)
    lines.append(
        f"With TF32 allowed (PyTorch's default for cuDNN convolutions): {wall32 * 1000:.2f} ms, "
        f"{flops / wall32 / 1e12:.1f} TFLOP/s ({wall / wall32:.2f}x)."
    )
    text = "\n".join(lines) + "\n"
    print(text)
    with open(out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/profile_resnet18.md")
