"""Level 4 for adversarial specs: GAN training parity.

Every framework starts from the same canonical weights and plays N alternating rounds as the
lecture describes (k discriminator steps on a real and a generated batch, then one generator
step through the fixed discriminator), on the same real batches and the same noise z from
the common seeded stream, with plain SGD by default (Adam in triptych's one formula on
request), in float32 and again in float64 (each framework's oracle). Per pair of
frameworks: the per-round D and G losses and the final weights of both networks, as `Check`
objects like every other level, each element judged by the bound derived from both
frameworks' float32 drift from their float64 runs (`triptych.verify.oracle`).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from triptych.common import data as D
from triptych.common.compare import compare_outputs
from triptych.common.init import init_weights
from triptych.common.recipe import Optimizer, Recipe
from triptych.common.spec import ModelSpec
from triptych.model import Model
from triptych.verify import oracle as O
from triptych.verify.checks import Check
from triptych.verify.runners import RunnerId
from triptych.verify.training import BUFFERS

LOSSES = ("d_loss", "g_loss")
#: the GAN recipe of the lecture (DCGAN): Adam 2e-4, beta1 0.5, eps 1e-8
LECTURE_ADAM = Optimizer("adam", 2e-4, (0.5, 0.999))
#: plain SGD for GAN rounds: 0.01 (at 0.05 the losses oscillate 0.1 <-> 2.8 and rounding
#: differences grow chaotically: 2e-3 apart by round 18, measured)
GAN_SGD = Optimizer("sgd", 0.01)


def is_adversarial(spec: ModelSpec) -> bool:
    """A spec with a generator and a discriminator (the GAN's shape)."""
    return {"generator", "discriminator"} <= set(spec.networks)


@dataclass
class GanTrainingRun:
    """Per-round D and G losses per framework, and the settings that produced them."""

    model: str
    frameworks: list[str]
    rounds: int
    k: int
    lr: float
    batch: int
    optimizer: str = "sgd"
    losses: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    losses64: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # the oracle

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def real_images(spec: ModelSpec, seed: int) -> D.Dataset:
    """The digits in [-1, 1] for an 8x8 discriminator, otherwise seeded U[-1, 1) images."""
    shape = spec.networks["discriminator"].input_shape
    if shape == (1, 8, 8):
        return D.load_digits("symmetric")
    rng = D.noise_stream(seed, "gan-parity/real")
    x = rng.uniform(-1.0, 1.0, (256, *shape)).astype(np.float32)
    return D.Dataset(x, None, "uniform[-1,1]")


def gan_training_parity(
    spec: ModelSpec,
    frameworks: list[str],
    rounds: int = 20,
    batch: int = 16,
    k: int = 1,
    seed: int = 0,
    weights: dict[str, np.ndarray] | None = None,
    optimizer: Optimizer = LECTURE_ADAM,
) -> tuple[GanTrainingRun, list[Check]]:
    """``rounds`` alternating rounds (k D steps, one G step) in every framework from
    ``weights`` (default ``init_weights(spec, seed)``) with ``optimizer`` (default the
    lecture's Adam, 2e-4, β1 0.5, in triptych's one formula): the curves and the checks."""
    start = init_weights(spec, seed) if weights is None else weights
    recipe = Recipe(
        kind="adversarial", optimizer=optimizer, batch=batch, k=k,
        steps=rounds, quick_steps=rounds, scale="symmetric",
    )  # fmt: skip
    data = real_images(spec, seed)
    run = GanTrainingRun(
        spec.name, list(frameworks), rounds, k, optimizer.lr, batch, optimizer.name
    )
    finals: O.Finals = {}
    finals64: O.Finals = {}
    for fw in frameworks:
        for dtype in ("float32", "float64"):
            model = Model(spec, fw, weights=start, seed=seed, dtype=dtype)
            history = model.fit(data, steps=rounds, recipe=recipe, progress=False, seed=seed)
            curves = {name: history.column(name) for name in LOSSES}
            (run.losses if dtype == "float32" else run.losses64)[fw] = curves
            (finals if dtype == "float32" else finals64)[fw] = model.get_weights()
    checks = []
    for a, b in itertools.combinations(frameworks, 2):
        ida, idb = RunnerId(a, "train", "generator"), RunnerId(b, "train", "generator")
        for name in LOSSES:
            la, lb = np.array(run.losses[a][name]), np.array(run.losses[b][name])
            oa, ob = np.array(run.losses64[a][name]), np.array(run.losses64[b][name])
            bound, summary = O.distances(la, oa, lb, ob)
            cmp = compare_outputs(
                {name: la}, {name: lb}, bound, 0.0,
                label=f"{rounds} GAN rounds ({optimizer.name}): {name} per round",
            )  # fmt: skip
            checks.append(Check(4, name, batch, ida, idb, cmp, oracle=summary))
        params = [k_ for k_ in finals[b] if not k_.endswith(BUFFERS)]
        label = f"GAN weights after {rounds} rounds"
        weights_cmp, summary = O.compare_finals(finals, finals64, a, b, params, label)
        note = O.zero_gradient_note(params, start, finals, finals64, (a, b))
        checks.append(Check(4, "gan_weights", batch, ida, idb, weights_cmp, True, note, summary))
    return run, checks
