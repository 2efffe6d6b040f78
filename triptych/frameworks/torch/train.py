"""Training steps with autograd: a chain of networks, one loss, one optimizer."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from triptych.common.recipe import Optimizer, check_loss
from triptych.frameworks.torch.build import TorchBuilt


def _loss(kind: str, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if kind == "mse":
        return F.mse_loss(out, target)
    if kind == "cross_entropy":
        return F.cross_entropy(out, target.long())
    return F.binary_cross_entropy_with_logits(out, target)


def make_trainer(
    chain: list[TorchBuilt], loss: str, optimizer: Optimizer
) -> Callable[[np.ndarray, np.ndarray], float]:
    """``step(x, target) -> loss``: train-mode forward through ``chain``, backward, update."""
    kind = check_loss(loss)
    modules = [b.native for b in chain]
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    if optimizer.name == "sgd":
        opt = torch.optim.SGD(params, lr=optimizer.lr)
    else:
        opt = torch.optim.Adam(params, lr=optimizer.lr, betas=optimizer.betas, eps=optimizer.eps)

    def step(x: np.ndarray, target: np.ndarray) -> float:
        for m in modules:
            m.train()
        h = torch.from_numpy(np.ascontiguousarray(x, np.float32))
        for m in modules:
            h = m(h)
        value = _loss(kind, h, torch.from_numpy(np.ascontiguousarray(target)))
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        for m in modules:
            m.eval()
        return float(value.detach())

    return step
