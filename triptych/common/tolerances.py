"""Parity tolerances as data: a default, and per-model / per-output overrides, each with a
comment saying why. Keys are ``(model, output)`` where output is a network name, ``"*"``
for every output of the model, or a weight name in training parity.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float
    why: str = "default"


#: float32 end to end; every path measured here stays below 1e-6 on the zoo.
DEFAULT = Tolerance(1e-5, 1e-4)

#: training parity compares per-step loss with a relative bound. Measured with exact Dropout,
#: 20 SGD steps (lr 0.1, batch 16, seed 0), every zoo model and framework pair: worst
#: 4.5e-7 (classifier, torch vs mxnet), the rest <= 2.3e-7. Was 1e-4 before exact Dropout.
#: Other seeds can show a one-step jump (seed 3: context_encoder 1.9e-4, conv_autoencoder
#: 1.3e-5; seed 1: classifier 8.9e-5), the same before exact Dropout: one framework alone
#: departs, as when a ReLU/max-pool tie resolves differently; not a Dropout effect.
TRAINING_LOSS_RTOL = 1e-6

#: per-model level-4 loss bounds (model name -> rtol), each with why. None needed at seed 0.
TRAINING_LOSS_OVERRIDES: dict[str, float] = {}

OVERRIDES: dict[tuple[str, str], Tolerance] = {
    # No zoo output needs more than DEFAULT today (largest measured: 1.4e-6 on the
    # classifier's logits). Add entries as (model, output): Tolerance(atol, rtol, "why").
}


def training_loss_rtol(model: str) -> float:
    """Level-4 per-step relative loss bound for ``model``: its override, else the default."""
    return TRAINING_LOSS_OVERRIDES.get(model, TRAINING_LOSS_RTOL)


def tolerance_for(
    model: str, output: str, atol: float | None = None, rtol: float | None = None
) -> Tolerance:
    """The tolerance for one output: explicit atol/rtol win, then overrides, then DEFAULT."""
    base = OVERRIDES.get((model, output)) or OVERRIDES.get((model, "*")) or DEFAULT
    if atol is None and rtol is None:
        return base
    return Tolerance(
        base.atol if atol is None else atol,
        base.rtol if rtol is None else rtol,
        "given by the caller",
    )
