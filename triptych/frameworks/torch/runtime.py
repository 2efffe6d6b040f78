"""PyTorch runtime facts: version, threads, the RNG behind Dropout, BatchNorm's estimator."""

from __future__ import annotations

import torch

# Denormal floats appear in training state at 28x28 (Adam's second moments, tiny gradients)
# and make x86 arithmetic 10-100x slower: a GAN step went from 30 ms to 600+ ms within 40
# steps, a dense AE's 2,000 steps from 6 s to 558 s (measured). TensorFlow flushes them to
# zero by itself; PyTorch does not unless asked.
torch.set_flush_denormal(True)

#: how BatchNorm tracks running variance: "unbiased" (PyTorch's rule) or "biased"
BN_RUNNING_VAR = "unbiased"
#: exporter to use where export time matters (benchmarks): the TorchScript tracer, ~0.05 s
FAST_EXPORTER: str | None = "torchscript"


def version() -> str:
    return torch.__version__


def devices() -> list[str]:
    """``cpu`` and each CUDA GPU PyTorch sees, with its name (the benchmarks' ``--device``)."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ["cpu", *(f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(gpus))]


def set_threads(n: int) -> None:
    """Intra-op threads (``torch.set_num_threads``); inter-op is left at its default."""
    torch.set_num_threads(int(n))


def seed_rng(built: list, seed: int) -> None:
    """Seed the framework RNG that draws Dropout masks (``torch.manual_seed``)."""
    torch.manual_seed(int(seed))
