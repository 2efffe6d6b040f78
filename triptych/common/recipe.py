"""Training recipes: optimizer, learning rate, betas, eps, batch, steps, loss.

Defaults are explicit so every framework gets the same numbers: Adam eps is 1e-8 everywhere
(Keras' default is 1e-7). Plain SGD (no momentum, no weight decay) is identical in all three
frameworks and is what step-by-step training parity uses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

OPTIMIZERS = ("sgd", "adam")
LOSSES = ("mse", "cross_entropy", "bce_logits")


@dataclass(frozen=True)
class Optimizer:
    """``name`` sgd|adam; ``lr`` learning rate; ``betas``/``eps`` for Adam (PyTorch names)."""

    name: str = "sgd"
    lr: float = 0.1
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.name!r}; allowed: {', '.join(OPTIMIZERS)}")
        if not self.lr > 0:
            raise ValueError(f"learning rate must be > 0, got {self.lr}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_loss(loss: str) -> str:
    """``mse`` (mean over every element), ``cross_entropy`` (softmax, integer labels, mean
    over the batch) or ``bce_logits`` (binary cross-entropy on logits, mean)."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; allowed: {', '.join(LOSSES)}")
    return loss
