"""Level 4: step-by-step training parity.

Every framework starts from the same canonical weights and takes N steps (plain SGD by
default) on the same batches, in float32 and again in float64 (its oracle). Per pair of
frameworks it returns `Check` objects like every other level: the per-step losses, the
final parameters and the BatchNorm running statistics (which gate only when both frameworks
use the same running-variance estimator; Gluon's is biased), each element judged by the
bound derived from both frameworks' float32 drift from their own float64 runs
(`triptych.verify.oracle`). Parameters whose exact gradient is zero (float64 leaves them
where they started) are named in the weights check. `TrainingRun` keeps the per-step
curves, float64 included, for the plot.

Dropout is exact (`triptych.common.dropout`): step k of every framework multiplies by the
same numpy masks, drawn per (seed, k, network, layer index). With ``exact_dropout=False``
each framework draws its own masks and a failure on a spec with Dropout says so.

Data and loss, chosen from the spec so any model works:
  * main input (1, 8, 8): batches of the bundled digits; otherwise seeded U[0, 1) images or
    N(0, 1) flat inputs;
  * output shape == input shape: reconstruction MSE (target = input);
  * output (10,) on digits: softmax cross-entropy on the labels; a supervised zoo model
    elsewhere: cross-entropy on seeded random labels;
  * otherwise MSE against a seeded N(0, 1) target.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from triptych.common import data as D
from triptych.common.compare import Comparison, compare_outputs
from triptych.common.dropout import has_dropout
from triptych.common.init import init_weights
from triptych.common.recipe import Optimizer
from triptych.common.spec import ModelSpec, input_vocabulary
from triptych.model import Model, default_recipe
from triptych.verify import oracle as O
from triptych.verify.checks import Check
from triptych.verify.runners import RunnerId

#: plain-SGD learning rate of level 4 per model where 0.1 (the default) is chaotic: ResNet-18
#: at 0.1 jumps between loss 2.5 and 16.8 within 20 steps and the frameworks part (0.3-1.0
#: relative) on rounding alone; the U-Net at 0.1 parts by 1.6e-4 by step 19; MobileNetV2 at
#: 0.1 drifts 1.0 from its own float64 run by step 10, and at 0.01 its float64 runs in two
#: frameworks part too (no oracle can judge them), at 0.001 they stay together; measured.
SGD_LR_OVERRIDES: dict[str, float] = {"resnet18": 0.01, "unet": 0.01, "mobilenet_v2": 0.001}

#: BatchNorm buffers: reported apart from parameters (Gluon tracks a biased running_var)
BUFFERS = ("running_mean", "running_var")


@dataclass
class TrainingRun:
    """Per-step losses per framework (for the plot) and the settings that produced them."""

    model: str
    frameworks: list[str]
    steps: int
    loss: str
    lr: float
    batch: int
    optimizer: str = "sgd"
    losses: dict[str, list[float]] = field(default_factory=dict)
    losses64: dict[str, list[float]] = field(default_factory=dict)  # the float64 oracle
    exact_dropout: bool = True
    #: float32 weights after the last step per framework (not in `to_dict`: arrays)
    finals: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)

    def per_step_rel(self, a: str, b: str) -> list[float]:
        """|loss_a - loss_b| / |loss_b| per step."""
        la, lb = np.array(self.losses[a]), np.array(self.losses[b])
        return (np.abs(la - lb) / np.maximum(np.abs(lb), 1e-12)).tolist()

    def drift(self, fw: str) -> list[float]:
        """|loss32 - loss64| / |loss64| per step: ``fw``'s float32 rounding drift."""
        l32, l64 = np.array(self.losses[fw]), np.array(self.losses64[fw])
        return (np.abs(l32 - l64) / np.maximum(np.abs(l64), 1e-300)).tolist()

    def pairs(self) -> list[tuple[str, str]]:
        return list(itertools.combinations(self.frameworks, 2))

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "finals"}


def training_batches(
    spec: ModelSpec, batch: int, steps: int, seed: int
) -> tuple[str, list[tuple[np.ndarray, np.ndarray]]]:
    """(loss name, [(x, target)] * steps) for ``spec`` (see the module docstring)."""
    in_shape, out_shape = spec.input_shape, spec.output_shape
    vocab = input_vocabulary(spec.networks[spec.main_chain[0]])
    if vocab is not None:  # token ids
        rng = D.noise_stream(seed, "training-parity/x")
        xs = [
            (rng.integers(0, vocab, (batch, *in_shape), dtype=np.int64), None) for _ in range(steps)
        ]
    elif in_shape == (1, 8, 8):
        stream = D.batches(D.load_digits(), batch, seed=seed)
        xs = [next(stream) for _ in range(steps)]
    else:
        rng = D.noise_stream(seed, "training-parity/x")
        draw = rng.random if len(in_shape) == 3 else rng.standard_normal
        xs = [(draw((batch, *in_shape)).astype(np.float32), None) for _ in range(steps)]
    if out_shape == in_shape:
        return "mse", [(x, x) for x, _ in xs]
    if out_shape == (10,) and xs[0][1] is not None:
        return "cross_entropy", [(x, y) for x, y in xs]
    if default_recipe(spec).kind == "supervised" and len(out_shape) == 1:
        rng = D.noise_stream(seed, "training-parity/labels")
        return "cross_entropy", [(x, rng.integers(0, out_shape[0], batch)) for x, _ in xs]
    rng = D.noise_stream(seed, "training-parity/target")
    return "mse", [(x, rng.standard_normal((batch, *out_shape)).astype(np.float32)) for x, _ in xs]


def training_parity(
    spec: ModelSpec,
    frameworks: list[str],
    steps: int = 20,
    lr: float = 0.1,
    batch: int = 16,
    seed: int = 0,
    weights: dict[str, np.ndarray] | None = None,
    optimizer: str = "sgd",
    exact_dropout: bool = True,
) -> tuple[TrainingRun, list[Check]]:
    """``steps`` steps (SGD lr 0.1, batch 16 by default) in every framework from
    ``weights`` (default ``init_weights(spec, seed)``), in float32 and in float64 (the
    oracle): the curves and the level-4 checks, each judged by the bound derived from both
    frameworks' float32 drift from their own float64 runs (`triptych.verify.oracle`).
    ``exact_dropout`` (default on): the same Dropout masks in every framework."""
    loss, data = training_batches(spec, batch, steps, seed)
    start = init_weights(spec, seed) if weights is None else weights
    run = TrainingRun(spec.name, list(frameworks), steps, loss, lr, batch, optimizer)
    run.exact_dropout = exact_dropout
    own_masks = not exact_dropout and has_dropout(spec)
    finals: dict[str, dict[str, np.ndarray]] = run.finals
    finals64: dict[str, dict[str, np.ndarray]] = {}
    estimators: dict[str, str] = {}
    for fw in frameworks:
        for dtype in ("float32", "float64"):
            model = Model(spec, fw, weights=start, seed=seed, dtype=dtype)
            opt = Optimizer(optimizer, lr)
            step = model.make_trainer(loss, opt, exact_dropout=exact_dropout)
            curve = [float(step(x, t)) for x, t in data]
            (run.losses if dtype == "float32" else run.losses64)[fw] = curve
            (finals if dtype == "float32" else finals64)[fw] = model.get_weights()
        estimators[fw] = model.backend.bn_running_var
    checks = []
    for a, b in run.pairs():
        ida = RunnerId(a, "train", spec.main_chain[0])
        idb = RunnerId(b, "train", spec.main_chain[0])
        la, lb = np.array(run.losses[a]), np.array(run.losses[b])
        bound, summary = O.distances(la, np.array(run.losses64[a]), lb, np.array(run.losses64[b]))
        losses = compare_outputs(
            {"loss": la}, {"loss": lb}, bound, 0.0,
            label=f"{steps} {optimizer} steps: loss per step",
        )  # fmt: skip
        checks.append(
            Check(4, "loss", batch, ida, idb, _dropout_hint(losses, own_masks), oracle=summary)
        )
        params = [k for k in finals[b] if not k.endswith(BUFFERS)]
        w_cmp, w_summary = O.compare_finals(
            finals, finals64, a, b, params, f"weights after {steps} steps"
        )
        note = O.zero_gradient_note(params, start, finals, finals64, (a, b))
        checks.append(
            Check(4, "weights", batch, ida, idb, _dropout_hint(w_cmp, own_masks),
                  note=note, oracle=w_summary)
        )  # fmt: skip
        stats = [k for k in finals[b] if k.endswith(BUFFERS)]
        if stats:
            same = estimators[a] == estimators[b]
            label = f"BatchNorm running statistics after {steps} steps"
            s_cmp, s_summary = O.compare_finals(finals, finals64, a, b, stats, label)
            note = "" if same else f"running_var: {estimators[a]} vs {estimators[b]} estimator"
            s_cmp = _dropout_hint(s_cmp, own_masks)
            checks.append(Check(4, "bn_stats", batch, ida, idb, s_cmp, same, note, s_summary))
    return run, checks


#: the line a level-4 failure gets when each framework drew its own Dropout masks
DROPOUT_HINT = (
    "Dropout masks differ: each framework drew its own (exact_dropout off); training "
    "parity of a spec with Dropout needs exact_dropout=True"
)


def _dropout_hint(cmp: Comparison, own_masks: bool) -> Comparison:
    """``cmp``, with `DROPOUT_HINT` among its failures when it failed on own masks."""
    if own_masks and not cmp:
        cmp.problems.append(DROPOUT_HINT)
    return cmp
