"""What the benchmarks need from PyTorch: numpy -> tensor, the recommended fast inference
path (channels_last + inference_mode) and a minimal hand-written train step (the yardstick
of triptych's own step in the harness-overhead measurement)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from triptych.frameworks.torch.build import TorchBuilt


def to_native(x: np.ndarray) -> torch.Tensor:
    """A canonical NCHW (or flat) float32 batch as a torch tensor (zero-copy)."""
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def fast_infer(chain: list[TorchBuilt], x: np.ndarray) -> Callable[[], np.ndarray]:
    """Eval-mode forward of ``chain`` on ``x`` with channels_last and inference_mode."""
    image = x.ndim == 4
    mods = [
        b.native.eval().to(memory_format=torch.channels_last) if image else b.native.eval()
        for b in chain
    ]
    t = to_native(x)
    if image:
        t = t.contiguous(memory_format=torch.channels_last)

    def run() -> np.ndarray:
        with torch.inference_mode():
            h = t
            for m in mods:
                h = m(h)
            return h.numpy()

    return run


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
