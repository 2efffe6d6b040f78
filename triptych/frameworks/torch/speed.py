"""What the benchmarks need from PyTorch: numpy -> tensor, the recommended fast inference
path (channels_last + inference_mode + ``torch.compile``), a minimal hand-written train step
(the yardstick of triptych's own step in the harness-overhead measurement), and the device
side: modules and batches on a CUDA GPU in strict fp32, its synchronisation, memory and
matmul peak."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from triptych.frameworks.torch.build import TorchBuilt

#: why the benchmarks have no tuned variant of this framework (it would repeat the default
#: cell), or None when its ``fast_infer``/``plain_train_step`` take speed options
NO_TUNED_VARIANT: str | None = None


def to_native(x: np.ndarray) -> torch.Tensor:
    """A canonical NCHW (or flat) float32 batch as a torch tensor (zero-copy)."""
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def fast_infer(
    chain: list[TorchBuilt], x: np.ndarray, device: str = "cpu"
) -> Callable[[], np.ndarray]:
    """PyTorch's recommended inference path for ``chain`` on ``x``: eval mode,
    channels_last for images, ``inference_mode`` and ``torch.compile`` (default mode: Inductor's
    C++ kernels on the CPU, Triton's on a GPU). The first call compiles (seconds to minutes:
    the benchmarks report it apart). numpy in, numpy out; on ``device`` "cuda" the batch
    crosses to the GPU and back in every call, as it does for onnxruntime's CUDA provider."""
    image = x.ndim == 4
    fmt = torch.channels_last if image else torch.contiguous_format
    mods = [b.native.eval().to(device=device, memory_format=fmt) for b in chain]
    compiled = torch.compile(torch.nn.Sequential(*mods))

    def run() -> np.ndarray:
        with torch.inference_mode():
            h = to_native(x).to(device, non_blocking=False).contiguous(memory_format=fmt)
            return compiled(h).cpu().numpy()

    return run


def device_infer(chain: list[TorchBuilt], x: np.ndarray, device: str) -> Callable[[], np.ndarray]:
    """The default (eager) inference on ``device``: eval mode, ``no_grad``, numpy in and out
    (what `triptych.model.Model.predict` does on the CPU)."""
    mods = [b.native.eval() for b in chain]

    def run() -> np.ndarray:
        with torch.no_grad():
            h = to_native(x).to(device)
            for m in mods:
                h = m(h)
            return h.cpu().numpy()

    return run


def to_device(chain: list[TorchBuilt], device: str) -> None:
    """Move ``chain``'s modules to ``device`` ("cpu", "cuda", "cuda:N") and keep the arithmetic
    strict fp32 there: TF32 off for matmuls and cuDNN convolutions (PyTorch's default turns it
    on for convolutions), so the GPU computes what the CPU and the parity conventions do."""
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} asked for, but PyTorch sees no CUDA GPU")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True  # the fastest convolution algorithm per shape
    for b in chain:
        b.native.to(device)


def device_tensor(x: np.ndarray, device: str) -> torch.Tensor:
    """``x`` as a float32 tensor on ``device`` (a batch that lives there already, as a GPU
    input pipeline leaves it)."""
    return to_native(x).to(device)


def forward_native(chain: list[TorchBuilt], h: torch.Tensor, training: bool) -> torch.Tensor:
    """``chain`` on a tensor where it lives, without gradients (a generator's batch for the
    discriminator step)."""
    with torch.no_grad():
        for b in chain:
            b.native.train(training)
            h = b.native(h)
    return h


def synchronize(device: str) -> None:
    """Wait for the work queued on ``device`` (a no-op on the CPU)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def peak_memory_mib(device: str) -> float | None:
    """The most memory PyTorch's allocator held on ``device`` so far, MiB; None on the CPU."""
    if not device.startswith("cuda"):
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def device_name(device: str) -> str:
    """The card behind ``device`` (``NVIDIA H200``), or ``cpu``."""
    return torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu"


def matmul_peak_gflops(device: str, n: int = 8192, repeats: int = 10) -> float:
    """Best strict-fp32 (TF32 off) GFLOP/s of an n×n @ n×n matmul on ``device``, timed with
    CUDA events after a warm-up (the peak the GPU cells' fraction refers to)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.rand((n, n), device=device, generator=gen)
    b = torch.rand((n, n), device=device, generator=gen)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        torch.mm(a, b)
        end.record()
        end.synchronize()
        best = min(best, start.elapsed_time(end) / 1000)
    return 2.0 * n**3 / best / 1e9


def plain_train_step(
    chain: list[TorchBuilt], x: np.ndarray, target: np.ndarray, lr: float = 1e-4
) -> Callable[[], Any]:
    """The textbook loop: Adam(lr, eps 1e-8), MSE, zero_grad/backward/step; tensors in."""
    params = [p for b in chain for p in b.native.parameters()]
    opt = torch.optim.Adam(params, lr=lr, eps=1e-8)
    xt, tt = to_native(x), to_native(target)

    def step() -> Any:
        for b in chain:
            b.native.train()
        h = xt
        for b in chain:
            h = b.native(h)
        loss = torch.nn.functional.mse_loss(h, tt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


def hand_train_step(
    chain: list[TorchBuilt], loss: str = "cross_entropy", lr: float = 1e-4
) -> Callable[[np.ndarray, np.ndarray], Any]:
    """A hand-written loop's step on a numpy batch: tensors from numpy, PyTorch's own Adam
    (lr, eps 1e-8), ``loss`` "cross_entropy" (integer labels) or "mse"; returns the loss as
    a 0-d tensor, not read back (a loop reads it when it logs)."""
    params = [p for b in chain for p in b.native.parameters()]
    opt = torch.optim.Adam(params, lr=lr, eps=1e-8)
    mods = [b.native for b in chain]

    def step(x: np.ndarray, y: np.ndarray) -> Any:
        h = torch.from_numpy(x)
        for m in mods:
            m.train()
            h = m(h)
        t = torch.from_numpy(y)
        value = F.cross_entropy(h, t) if loss == "cross_entropy" else F.mse_loss(h, t)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        return value.detach()

    return step


def cpu_gemm(a: np.ndarray, b: np.ndarray) -> Callable[[], Any]:
    """A call computing ``a @ b`` (fp32) with PyTorch's CPU GEMM (MKL / oneDNN): the
    benchmark peak's measurement (`triptych.bench.gemm_peak`)."""
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    return lambda: torch.mm(ta, tb)
