"""Parity level 5: N data-parallel workers vs one process, per framework.

Both runs start from the same seeded weights and take the same global batches of the common
stream (``data.batches``, seed ``seed``) with plain SGD (lr 0.1 by default); the N workers
each train on rows ``rank::N`` and their engine averages the gradients
(`triptych.training.distributed`). Compared: the per-step loss (the mean over the workers
is the global-batch loss) and the weights after ``steps`` steps. Without BatchNorm these
agree to float rounding (the gradient sum is ordered differently) and the checks gate
(Dropout is exact: each worker applies its rows of the one-process masks).

BatchNorm is reported apart, with the convention that ran in the check's note and runner:
per-worker statistics (each worker normalises with its own shard: the default, and the only
one PyTorch-on-CPU and MXNet kvstore have, see their ``SYNC_BN_UNSUPPORTED``), or, with
``sync_bn``, the engine's synchronised BatchNorm (global-batch statistics; TensorFlow:
Keras ``BatchNormalization(synchronized=True)``). Synchronised BN gates on the per-step loss
and the parameters, as a model without BN does; its running statistics, and everything of
per-worker BN, are reported apart (``gating=False``).

``resume_at`` = K: one process trains K steps into a checkpoint, and the N workers resume
from it to ``steps`` (a checkpoint resumes under any number of workers).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from triptych.common import data as D
from triptych.common.compare import compare_outputs
from triptych.common.datasets.resize import resize_bilinear
from triptych.common.dropout import has_dropout
from triptych.common.recipe import Optimizer, Recipe
from triptych.common.spec import ModelSpec, input_vocabulary
from triptych.common.tolerances import Tolerance
from triptych.engine.loop import fit
from triptych.engine.trainer import BUFFERS, Trainer
from triptych.frameworks.base import get_backend
from triptych.model import Model, default_recipe
from triptych.training.distributed import train_workers
from triptych.verify.checks import Check, ParityReport
from triptych.verify.runners import RunnerId

#: level-5 tolerance: measured worst over classifier-without-BN and autoencoder, 2 workers,
#: 5 SGD steps, every framework: 2.4e-7 absolute (see benchmarks/data_parallel.md)
TOLERANCE = Tolerance(1e-5, 1e-4)
TEST_FRACTION, SPLIT_SEED = 0.2, 0  # the split `triptych train` uses
#: how a level-5 check's note starts its BatchNorm part (tables put those rows apart)
BN_NOTE = "BatchNorm "


def has_batchnorm(spec: ModelSpec) -> bool:
    """Whether any network of ``spec`` has a BatchNorm layer."""
    return any(lay.kind == "batchnorm" for net in spec.networks.values() for lay in net.layers)


def parity_recipe(spec: ModelSpec, workers: int, batch: int = 32, lr: float = 0.1) -> Recipe:
    """The model's recipe with SGD at ``lr`` and a global ``batch`` rounded down to a
    multiple of ``workers`` (default 32)."""
    batch = max(workers, batch - batch % workers)
    return default_recipe(spec).with_(
        optimizer=Optimizer("sgd", lr), batch=batch, checkpoint_every=10**9
    )


def level5_data(spec: ModelSpec, folder: Path) -> str:
    """The data the level-5 runs train on, images of the spec's input shape (a GAN's: its
    generator's output shape, the images its discriminator takes): ``digits``
    (8x8) or ``digits28`` (the UCI digits at 28x28) when the shape is theirs; for any other
    (C, H, W), e.g. the 3x32x32 ResNet-18, the UCI digits resized to H x W (bilinear) and
    repeated over C channels, written to ``folder``/level5_digits.npz (a file the workers
    load like any other); ValueError for inputs that are not images (token ids)."""
    shape = tuple(spec.input_shape)
    if default_recipe(spec).kind == "adversarial":  # a GAN trains on its outputs' images
        shape = tuple(spec.networks[spec.main_chain[-1]].output_shape)
    if shape == (1, 8, 8):
        return "digits"
    if shape == (1, 28, 28):
        return "digits28"
    if len(shape) != 3 or input_vocabulary(spec.networks[spec.main_chain[0]]) is not None:
        raise ValueError(f"level 5 trains on the bundled digits: input {shape} is not an image")
    c, h, w = shape
    digits = D.load_digits()
    x = resize_bilinear(digits.x, (h, w)).clip(0.0, 1.0)
    path = folder / "level5_digits.npz"
    np.savez(path, x=np.repeat(x, c, axis=1).astype(np.float32), y=digits.y)
    return str(path)


def one_process(
    spec: ModelSpec, framework: str, recipe: Recipe, steps: int, data: str, seed: int
) -> tuple[list[float], dict[str, np.ndarray]]:
    """(per-step losses, final weights) of one process on the global batches."""
    train_set, _ = D.load_train_test(data, recipe.scale, TEST_FRACTION, SPLIT_SEED)
    model = Model(spec, framework, seed=seed)
    trainer = Trainer(model, recipe, seed, exact_dropout=True)  # the masks the workers shard
    stream = D.batches(train_set, recipe.batch, seed=seed)
    losses = [
        float(trainer.step(s, next(stream), lambda: next(stream))["loss"])
        for s in range(1, steps + 1)
    ]
    return losses, model.get_weights()


@contextlib.contextmanager
def _run_dir(run_dir: Path | None) -> Iterator[Path]:
    if run_dir is not None:
        yield Path(run_dir)
        return
    with tempfile.TemporaryDirectory(prefix="triptych-dp-") as tmp:
        yield Path(tmp)


def bn_convention(framework: str, spec: ModelSpec, workers: int, batch: int, sync: bool) -> str:
    """What BatchNorm does across the workers, in words (empty without BatchNorm)."""
    if not has_batchnorm(spec):
        return ""
    if sync:
        return f"{BN_NOTE}synchronised ({get_backend(framework).distributed.SYNC_BN})"
    return f"{BN_NOTE}per worker (statistics of its {batch // workers} rows, no sync)"


def data_parallel_checks(
    spec: ModelSpec,
    framework: str,
    workers: int = 2,
    steps: int = 5,
    *,
    data: str | None = None,
    seed: int = 0,
    atol: float | None = None,
    rtol: float | None = None,
    timeout_s: float = 120.0,
    recipe: Recipe | None = None,
    resume_at: int = 0,
    run_dir: Path | None = None,
    sync_bn: bool = False,
) -> list[Check]:
    """Level-5 checks (loss per step, weights, BatchNorm statistics) for ``framework``.
    ``recipe``: default `parity_recipe` (SGD lr 0.1, global batch 32); ``resume_at``: the
    workers resume from one process's checkpoint at that step (0: they start at step 1);
    ``run_dir``: where the runs write (default a temporary directory); ``sync_bn``: the
    engine's synchronised BatchNorm (`ValueError` with the reason where it has none);
    ``data``: default `level5_data`, the bundled set whose images the spec takes."""
    recipe = recipe or parity_recipe(spec, workers)
    tol = Tolerance(atol or TOLERANCE.atol, rtol or TOLERANCE.rtol)
    with _run_dir(run_dir) as d, tempfile.TemporaryDirectory(prefix="triptych-l5-") as tmp:
        data = data or level5_data(spec, Path(tmp))
        ref_losses, ref_w = one_process(spec, framework, recipe, steps, data, seed)
        if resume_at:
            train_set, _ = D.load_train_test(data, recipe.scale, TEST_FRACTION, SPLIT_SEED)
            first = Model(spec, framework, seed=seed)
            fit(first, train_set, recipe, resume_at, seed=seed, progress=False, out_dir=d)
        model = Model(spec, framework, seed=seed)
        history = train_workers(model, recipe, steps, data=data, seed=seed, run_dir=d,
                                workers=workers, test_fraction=TEST_FRACTION,
                                split_seed=SPLIT_SEED, timeout_s=timeout_s,
                                resume=bool(resume_at), sync_bn=sync_bn)  # fmt: skip
        dp_w = model.get_weights()
    dp_losses = [float(r["loss"]) for r in history]
    bn = bn_convention(framework, spec, workers, recipe.batch, sync_bn)
    exact = not bn or sync_bn  # per-worker BN statistics are another computation
    note = "; ".join(
        x
        for x in (
            f"{workers} workers vs 1 process, {recipe.optimizer.name}, same global batches",
            f"workers resumed at step {resume_at} from one process's checkpoint"
            if resume_at
            else "",
            "exact Dropout" if has_dropout(spec) else "",
            bn,
        )
        if x
    )
    kind = f"{workers} workers" + (", sync BN" if bn and sync_bn else "")
    a = RunnerId(framework, kind, "train")
    b = RunnerId(framework, "1 process", "train")
    batch = recipe.batch
    loss_cmp = compare_outputs(
        {"loss": np.array(dp_losses)},
        {"loss": np.array(ref_losses)},
        tol.atol,
        tol.rtol,
        label=f"loss per step ({steps} steps)",
    )
    params = [k for k in ref_w if not k.endswith(BUFFERS)]
    w_cmp = compare_outputs(
        {k: dp_w[k] for k in params},
        {k: ref_w[k] for k in params},
        tol.atol,
        tol.rtol,
        label=f"weights after {steps} steps",
    )
    checks = [
        Check(5, "loss", batch, a, b, loss_cmp, exact, note),
        Check(5, "weights", batch, a, b, w_cmp, exact, note),
    ]
    stats = [k for k in ref_w if k.endswith(BUFFERS)]
    if stats:
        s_cmp = compare_outputs(
            {k: dp_w[k] for k in stats},
            {k: ref_w[k] for k in stats},
            tol.atol,
            tol.rtol,
            label="BatchNorm running statistics (rank 0's)",
        )
        checks.append(Check(5, "bn_stats", batch, a, b, s_cmp, False, note))
    return checks


#: the note of the level-5 rows a BatchNorm chain model gates on
BN_REMOVED = "the same model and recipe with its BatchNorm layers removed: must follow one process"


def _without_batchnorm_or_none(spec: ModelSpec) -> ModelSpec | None:
    """``spec`` without BatchNorm when it has some and is made of chains, else None. Graphs
    keep only their rows apart: without BN, MobileNetV2 under level 5's SGD at lr 0.1
    diverges from step 2 (one process: loss 5.2, 106, 249, ... 364 at step 20), a chaotic
    trajectory that two workers cannot follow to rounding (ResNet-18 and the U-Net
    without BN do: 1.2e-7)."""
    if not has_batchnorm(spec) or any("layers" not in n for n in spec.to_dict()["networks"]):
        return None
    return without_batchnorm(spec)


def without_batchnorm(spec: ModelSpec) -> ModelSpec:
    """``spec`` with its BatchNorm layers removed (a level-5 model that must agree to float
    rounding): dropped from chains, made `Identity` in graphs (the node indices stay); the
    name is kept, so is the recipe."""
    d = spec.to_dict()
    drop = ("batchnorm",)
    for net in d["networks"]:
        if "layers" in net:
            net["layers"] = [lay for lay in net["layers"] if lay["kind"] not in drop]
            continue
        for node in net["nodes"]:
            if node["layer"]["kind"] in drop:
                node["layer"] = {"kind": "identity"}
    return ModelSpec.from_dict(d)


def add_level5(
    report: ParityReport,
    spec: ModelSpec,
    frameworks: list[str],
    workers: int,
    steps: int = 5,
    *,
    seed: int = 0,
    atol: float | None = None,
    rtol: float | None = None,
    sync_bn: bool = False,
) -> ParityReport:
    """Append the level-5 checks of every framework to ``report`` (from seeded weights);
    a framework whose engine is not supported goes to ``report.skipped`` with the reason.
    A model with BatchNorm runs with per-worker statistics (reported apart), once more
    without its BatchNorm layers where it is made of chains (gating: the same model and
    recipe must then follow one process to rounding) and, with ``sync_bn``, once more with
    the engine's synchronised BatchNorm where it has one (the others go to
    ``report.skipped`` with why)."""
    for fw in frameworks:
        dist = get_backend(fw).distributed
        if dist.UNSUPPORTED:
            report.skipped.append(f"level 5 on {fw}: {dist.UNSUPPORTED}")
            continue
        kw = {"seed": seed, "atol": atol, "rtol": rtol}
        report.checks += data_parallel_checks(spec, fw, workers, steps, **kw)
        plain = _without_batchnorm_or_none(spec)
        if plain is not None:  # what gates a BN chain model: the same recipe without its BN
            report.checks += [
                replace(c, a=replace(c.a, kind=f"{c.a.kind}, BN removed"),
                        note=f"{c.note}; {BN_REMOVED}")
                for c in data_parallel_checks(plain, fw, workers, steps, **kw)
            ]  # fmt: skip
        if sync_bn and has_batchnorm(spec):
            if dist.SYNC_BN_UNSUPPORTED:
                report.skipped.append(f"level 5 sync BN on {fw}: {dist.SYNC_BN_UNSUPPORTED}")
                continue
            report.checks += data_parallel_checks(spec, fw, workers, steps, sync_bn=True, **kw)
    return report
