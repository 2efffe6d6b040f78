"""Training recipes: optimizer, learning rate, betas, eps, batch, steps, loss terms, data.

Defaults are explicit so every framework gets the same numbers: Adam eps is 1e-8 everywhere
(Keras' default is 1e-7). Plain SGD (no momentum, no weight decay) is identical in all three
frameworks and is what step-by-step training parity uses. ``adam`` is triptych's Adam, PyTorch's
formula written out in every backend (`triptych.common.adam`), so losses agree to float32
rounding; ``adam_native`` is each framework's own Adam (Keras and MXNet fold the bias
correction into the step size, so eps acts at a different scale and the runs drift apart).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

#: (network name, layer index) of layers kept fixed while training (transfer learning)
Frozen = frozenset[tuple[str, int]] | set[tuple[str, int]]
#: (network name, layer index) -> learning-rate multiplier
LrMult = dict[tuple[str, int], float]

OPTIMIZERS = ("sgd", "adam", "adam_native")
LOSSES = ("mse", "cross_entropy", "bce_logits")
KINDS = ("reconstruction", "adversarial", "supervised")
CORRUPTIONS = ("none", "gaussian", "masking", "patches")


@dataclass(frozen=True)
class Optimizer:
    """``name`` sgd|adam|adam_native (triptych's Adam | the framework's own); ``lr``
    learning rate; ``betas``/``eps`` for Adam (PyTorch names; defaults 0.9, 0.999, 1e-8)."""

    name: str = "sgd"
    lr: float = 0.1
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.name!r}; allowed: {', '.join(OPTIMIZERS)}")
        if not self.lr > 0:
            raise ValueError(f"learning rate must be > 0, got {self.lr}")
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Recipe:
    """How a zoo model trains. Units: steps are optimizer steps of the generator/main net;
    ``batch`` samples; ``noise_std`` in pixel units of the [0, 1] data; ``mask_prob`` the
    probability a pixel is zeroed (``patches``: the fraction of the ``patch_grid`` ×
    ``patch_grid`` cells zeroed, a masked autoencoder's patches); ``hole`` the side of the
    centre hole as a fraction of H/W.

    Loss = rec_weight · MSE (on the hole only for context encoders, on the zeroed patches
    only for ``patches``) + l1 · mean|code| +
    adv_weight · BCE(D(output), real). ``k`` discriminator steps per generator step.
    """

    kind: str = "reconstruction"
    optimizer: Optimizer = field(default_factory=lambda: Optimizer("adam", 1e-3))
    d_optimizer: Optimizer | None = None
    batch: int = 64
    steps: int = 1500
    quick_steps: int = 300
    scale: str = "unit"
    l1: float = 0.0
    corruption: str = "none"
    noise_std: float = 0.3
    mask_prob: float = 0.3
    hole: float = 0.0
    rec_weight: float = 1.0
    adv_weight: float = 0.0
    k: int = 1
    shift: int = 0
    patch_grid: int = 4
    log_every: int = 50
    checkpoint_every: int = 500

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown recipe kind {self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.corruption not in CORRUPTIONS:
            raise ValueError(
                f"unknown corruption {self.corruption!r}; allowed: {', '.join(CORRUPTIONS)}"
            )
        for name in ("batch", "steps", "k", "patch_grid"):
            if getattr(self, name) < 1:
                raise ValueError(f"recipe {name} must be >= 1, got {getattr(self, name)}")
        if self.shift < 0:
            raise ValueError(f"recipe shift must be >= 0 pixels, got {self.shift}")
        if not 0.0 <= self.hole < 1.0:
            raise ValueError(f"hole must be a fraction in [0, 1), got {self.hole}")

    def with_(self, **changes: Any) -> Recipe:
        """A copy with ``changes`` (validated)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        d = dict(d)
        d["optimizer"] = Optimizer(**d["optimizer"])
        if d.get("d_optimizer"):
            d["d_optimizer"] = Optimizer(**d["d_optimizer"])
        return cls(**d)


def check_loss(loss: str) -> str:
    """``mse`` (mean over every element), ``cross_entropy`` (softmax, integer labels, mean
    over the batch) or ``bce_logits`` (binary cross-entropy on logits, mean)."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; allowed: {', '.join(LOSSES)}")
    return loss
