"""Level 4: step-by-step training parity.

Every framework starts from the same canonical weights and takes N plain-SGD steps on the same
batches. Per step the loss is compared across every pair (relative difference, bound
`TRAINING_LOSS_RTOL`); after the last step the canonical weights are compared and the largest
difference reported. The per-step curves are kept for plotting.

Data and loss, chosen from the spec so any model works:
  * main input (1, 8, 8): batches of the bundled digits; otherwise seeded N(0, 1) inputs;
  * output shape == input shape: reconstruction MSE (target = input);
  * output (10,) on digits: softmax cross-entropy on the labels;
  * otherwise MSE against a seeded N(0, 1) target.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from triptych.common import data as D
from triptych.common.init import init_weights
from triptych.common.recipe import Optimizer
from triptych.common.spec import ModelSpec
from triptych.common.tolerances import TRAINING_LOSS_RTOL
from triptych.frameworks.base import get_backend

#: BatchNorm buffers: reported apart from parameters (Gluon tracks a biased running_var)
BUFFERS = ("running_mean", "running_var")


@dataclass
class TrainingParity:
    """Per-step losses per framework and, per pair, the divergence curve and final weights."""

    model: str
    frameworks: list[str]
    steps: int
    loss: str
    lr: float
    batch: int
    losses: dict[str, list[float]] = field(default_factory=dict)
    pairs: dict[str, dict[str, Any]] = field(default_factory=dict)
    rtol: float = TRAINING_LOSS_RTOL

    def __bool__(self) -> bool:
        return bool(self.pairs) and all(p["passed"] for p in self.pairs.values())

    def to_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.__dict__.items()}, "passed": bool(self)}

    def failures(self) -> list[str]:
        if not self.pairs:
            return [f"training parity of {self.model}: needs two frameworks, had {self.frameworks}"]
        return [
            f"training {pair}: loss rel diff {p['max_rel_loss']:.3g} > {self.rtol:g} at "
            f"step {p['worst_step']}"
            for pair, p in self.pairs.items()
            if not p["passed"]
        ]


def _batches(spec: ModelSpec, batch: int, steps: int, seed: int) -> tuple[str, list[tuple]]:
    in_shape, out_shape = spec.input_shape, spec.output_shape
    if in_shape == (1, 8, 8):
        stream = D.batches(D.load_digits(), batch, seed=seed)
        xs = [next(stream) for _ in range(steps)]
    else:
        rng = D.noise_stream(seed, "training-parity/x")
        xs = [
            (rng.standard_normal((batch, *in_shape)).astype(np.float32), None) for _ in range(steps)
        ]
    if out_shape == in_shape:
        return "mse", [(x, x) for x, _ in xs]
    if out_shape == (10,) and xs[0][1] is not None:
        return "cross_entropy", [(x, y) for x, y in xs]
    rng = D.noise_stream(seed, "training-parity/target")
    return "mse", [(x, rng.standard_normal((batch, *out_shape)).astype(np.float32)) for x, _ in xs]


def training_parity(
    spec: ModelSpec,
    frameworks: list[str],
    steps: int = 20,
    lr: float = 0.1,
    batch: int = 16,
    seed: int = 0,
) -> TrainingParity:
    """Run ``steps`` SGD steps (lr 0.1, batch 16 by default) in every framework and compare."""
    from triptych.model import Model

    loss, data = _batches(spec, batch, steps, seed)
    weights = init_weights(spec, seed)
    result = TrainingParity(spec.name, list(frameworks), steps, loss, lr, batch)
    finals: dict[str, dict[str, np.ndarray]] = {}
    for fw in frameworks:
        model = Model(spec, fw, weights=weights)
        step = model.make_trainer(loss, Optimizer("sgd", lr))
        result.losses[fw] = [float(step(x, t)) for x, t in data]
        finals[fw] = model.get_weights()
    for a, b in itertools.combinations(frameworks, 2):
        la, lb = np.array(result.losses[a]), np.array(result.losses[b])
        rel = np.abs(la - lb) / np.maximum(np.abs(lb), 1e-12)
        wdiff = {k: float(np.abs(finals[a][k] - finals[b][k]).max()) for k in finals[b]}
        params = {k: v for k, v in wdiff.items() if not k.endswith(BUFFERS)}
        stats = {k: v for k, v in wdiff.items() if k.endswith(BUFFERS)}
        worst_w = max(params, key=params.get)
        finite = bool(np.isfinite(la).all() and np.isfinite(lb).all())
        result.pairs[f"{a} vs {b}"] = {
            "per_step_rel": rel.tolist(),
            "max_rel_loss": float(rel.max()),
            "worst_step": int(rel.argmax()) + 1,
            "final_weights_max_abs": wdiff[worst_w],
            "worst_weight": worst_w,
            "running_stats_max_abs": max(stats.values(), default=0.0),
            "running_var_estimators": {fw: get_backend(fw).bn_running_var for fw in (a, b)},
            "final_weights": wdiff,
            "passed": finite and float(rel.max()) <= result.rtol,
        }
    return result
