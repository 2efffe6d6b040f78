"""PyTorch runtime facts: version, threads, the RNG behind Dropout, BatchNorm's estimator."""

from __future__ import annotations

import torch

#: how BatchNorm tracks running variance: "unbiased" (PyTorch's rule) or "biased"
BN_RUNNING_VAR = "unbiased"
#: exporter to use where export time matters (benchmarks): the TorchScript tracer, ~0.05 s
FAST_EXPORTER: str | None = "torchscript"


def version() -> str:
    return torch.__version__


def set_threads(n: int) -> None:
    """Intra-op threads (``torch.set_num_threads``); inter-op is left at its default."""
    torch.set_num_threads(int(n))


def seed_rng(built: list, seed: int) -> None:
    """Seed the framework RNG that draws Dropout masks (``torch.manual_seed``)."""
    torch.manual_seed(int(seed))
