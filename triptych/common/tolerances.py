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
#: MXNet with oneDNN on (its conv/BN kernels sum in another order than its reference ones):
#: pairs with mxnet reach 1.55e-6 (classifier, 20 SGD steps) and 4.3e-6 (conv + BN), the
#: pairs without it stay <= 4.5e-7; hence 5e-6 (1e-6 while MXNet ran with oneDNN off).
TRAINING_LOSS_RTOL = 5e-6

#: per-model level-4 loss bounds (model name -> rtol), each with why (20 SGD steps, seed 0,
#: batch 16, measured on this machine).
TRAINING_LOSS_OVERRIDES: dict[str, float] = {
    # U-Net (lr 0.01): 1e-7 for 12 steps, then one step jumps to 1.1e-6 (torch vs tf) and
    # 2.0e-6 (worst pair) and stays there; every component alone (conv, BN, max-pool,
    # nearest upsample, concat) agrees to 1e-7 over the same steps.
    "unet": 5e-6,
    # ResNet-18 (lr 0.01): 2e-7 at step 1, 8e-6 at step 2, then growing ~10x a step to
    # 2.6e-2 by step 20, at lr 1e-3 too (2.3e-3). Each block alone (strided and 1x1
    # projection convs, bias-free BN, Add, global pooling) agrees to 1e-7 over 10 steps: a
    # deep BatchNorm network at init amplifies rounding differences exponentially with
    # depth (Yang et al. 2019, "A mean field theory of batch normalization"). The bound says
    # what holds; `triptych parity resnet18 --train-steps 2` stays below 1e-5.
    "resnet18": 5e-2,
}

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
