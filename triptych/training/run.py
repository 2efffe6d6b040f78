"""One training run as `triptych train` does it: the model's recipe (with overrides), the
data split, fit with checkpoints, evaluation on the held-out part, pictures and
``metrics.json`` in the run directory. The CLI only parses arguments and prints."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triptych.common import data as D
from triptych.common import zoo
from triptych.common.recipe import Recipe
from triptych.common.spec import ModelSpec
from triptych.common.weights import load_weights, write_text_atomic
from triptych.common.zoo_models import recipe_for_data
from triptych.engine.history import History
from triptych.model import Model, default_recipe, resolve_spec
from triptych.training import distributed as DP
from triptych.training import transfer as T
from triptych.training.evaluate import evaluate
from triptych.training.fd import data_key, shared_classifier_cache
from triptych.training.gan_pictures import gan_summary, sample_grid
from triptych.training.pictures import reconstruction_pictures

TEST_FRACTION = 0.2
SPLIT_SEED = 0  # the train/test split never depends on the training seed


@dataclass(frozen=True)
class TransferOptions:
    """Classifier-only options: class filter (``0-4``), backbone checkpoint, k labels per
    class, freeze policy (head|most|few|none|auto) and ``LAYER=F`` lr multipliers."""

    classes: str | None = None
    init: str | None = None
    labels_per_class: int | None = None
    freeze: str | None = None
    lr_mult: tuple[str, ...] | None = None

    def any(self) -> bool:
        return any(v is not None for v in self.__dict__.values())


def default_out_dir(model: Model) -> Path:
    """Where a run goes without ``--out``: ``runs/train/<model>-<framework>``."""
    return Path("runs") / "train" / f"{model.spec.name}-{model.framework}"


def load_split(source: str, scale: str) -> tuple[D.Dataset, D.Dataset]:
    """(train, test) of ``source``: MNIST-5k's fixed stratified 4,000/1,000 split, an IDX
    directory's shipped train/t10k split, otherwise the fixed 80/20 split."""
    return D.load_train_test(source, scale, TEST_FRACTION, SPLIT_SEED)


def write_json(path: Path, data: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, default=float))


def train(
    model_source: str,
    framework: str,
    *,
    data: str = "digits",
    steps: int | None = None,
    quick: bool = False,
    seed: int = 0,
    out: str | None = None,
    resume: bool = False,
    l1: float | None = None,
    corruption: str | None = None,
    transfer: TransferOptions | None = None,
    progress: bool = True,
    workers: int = 1,
    sync_bn: bool = False,
    nodes: DP.Nodes | None = None,
    ray: DP.RayOptions | None = None,
) -> tuple[dict[str, Any], Path]:
    """Train ``model_source`` (zoo name or spec .json) in ``framework``; returns the metrics
    (also written to ``metrics.json``) and the run directory. ``workers`` > 1: that many
    data-parallel processes on the framework's own engine (`triptych.training.distributed`;
    ``resume`` continues a checkpoint written by any number of workers, ``sync_bn`` uses
    the engine's synchronised BatchNorm); ``nodes``: one machine of a multi-node job
    (``workers`` per node; only node 0 evaluates and writes the run directory); ``ray``:
    the workers run on Ray."""
    spec = resolve_spec(model_source)
    recipe = default_recipe(spec)
    if model_source in zoo.names():  # a zoo model's recipe for this data (e.g. MNIST-5k)
        recipe = recipe_for_data(model_source, data, recipe)
    train_set, test_set = load_split(data, recipe.scale)
    spec = fit_to_data(spec, model_source, train_set.image_shape)
    changes: dict[str, Any] = {}
    if l1 is not None:
        changes["l1"] = l1
    if corruption is not None:
        changes["corruption"] = corruption
    recipe = recipe.with_(**changes)
    n_steps = steps or (recipe.quick_steps if quick else recipe.steps)
    transfer = transfer or TransferOptions()
    if workers > 1 or nodes is not None or ray is not None:
        if transfer.any():
            raise ValueError("--workers does not combine with the transfer options")
        return _train_workers(spec, framework, recipe, n_steps, train_set, test_set, data,
                              seed, out, workers, resume, sync_bn, nodes, ray)  # fmt: skip
    if sync_bn:
        raise ValueError("--sync-bn applies to data-parallel training (--workers N > 1)")
    if recipe.kind == "supervised":
        name = model_source if model_source in zoo.names() else None
        return _train_classifier(
            framework, recipe, n_steps, train_set, test_set, seed, out, resume, transfer, progress,
            name, spec,
        )  # fmt: skip
    if transfer.any():
        raise ValueError(
            "--classes/--init/--labels-per-class/--freeze/--lr-mult apply to "
            f"the classifier, not to {spec.name}"
        )
    model = Model(spec, framework, seed=seed)
    run_dir = Path(out) if out else default_out_dir(model)
    history = model.fit(
        train_set,
        steps=n_steps,
        recipe=recipe,
        progress=progress,
        out_dir=run_dir,
        resume=resume,
        callback=_sampler(model, recipe, run_dir),
    )
    metrics = summarise(model, recipe, train_set, test_set, run_dir, data, quick)
    metrics.update(
        steps=n_steps,
        final_loss=history.last("loss", 20),
        framework=model.framework,
        seed=seed,
        data=data,
    )
    write_json(run_dir / "metrics.json", metrics)
    return metrics, run_dir


def _train_classifier(
    framework: str,
    recipe: Recipe,
    steps: int,
    train_set: D.Dataset,
    test_set: D.Dataset,
    seed: int,
    out: str | None,
    resume: bool,
    options: TransferOptions,
    progress: bool,
    zoo_name: str | None = None,
    spec: ModelSpec | None = None,
) -> tuple[dict[str, Any], Path]:
    """Pretrain (``classes``) or transfer (``init``, ``freeze``, ``lr_mult``,
    ``labels_per_class``) zoo classifier ``zoo_name`` (resized to the data's classes), or
    train ``spec`` as it is (a spec file: its classes are its own)."""
    if options.classes:
        classes = T.class_range(options.classes)
        train_set, test_set = train_set.filter_classes(classes), test_set.filter_classes(classes)
    k = options.labels_per_class
    if k is not None:
        train_set = train_set.per_class(k, seed=seed)
    if zoo_name is None and spec is not None:
        if options.init or options.freeze or options.lr_mult:
            T.backbone_blocks(spec)  # a clear error when it has no backbone
        model = Model(spec, framework, seed=seed)
    else:
        model = T.make_target_model(framework, len(train_set.classes), seed, options.init,
                                    train_set.image_shape, zoo_name or "classifier")  # fmt: skip
    policy = options.freeze or "none"
    backbone = bool(options.init or options.freeze or options.lr_mult)
    frozen = T.frozen_layers(model.spec, policy, k or float("inf")) if backbone else set()
    lr_mult = T.expand_lr_mult(model.spec, T.parse_lr_mult(list(options.lr_mult or ())))
    run_dir = Path(out) if out else default_out_dir(model)
    history = model.fit(
        train_set,
        steps=steps,
        recipe=recipe.with_(batch=min(recipe.batch, len(train_set))),
        progress=progress,
        out_dir=run_dir,
        frozen=frozen,
        lr_mult=lr_mult,
        resume=resume,
    )
    metrics = {
        "test_accuracy": T.accuracy(model, test_set),
        "classes": list(train_set.classes),
        "train_examples": len(train_set),
        "policy": T.resolve_policy(policy, k or 1e9),
        "frozen_layers": len(frozen),
        "init": options.init or "scratch",
        "steps": steps,
        "final_loss": history.last("loss", 10),
        "framework": model.framework,
        "seed": seed,
    }
    write_json(run_dir / "metrics.json", metrics)
    return metrics, run_dir


def _train_workers(
    spec: ModelSpec,
    framework: str,
    recipe: Recipe,
    steps: int,
    train_set: D.Dataset,
    test_set: D.Dataset,
    data: str,
    seed: int,
    out: str | None,
    workers: int,
    resume: bool = False,
    sync_bn: bool = False,
    nodes: DP.Nodes | None = None,
    ray: DP.RayOptions | None = None,
) -> tuple[dict[str, Any], Path]:
    """``workers`` data-parallel processes (rank 0 checkpoints), then the usual evaluation;
    ``resume``: from the checkpoint in the run directory, written by any number of workers
    (one process included); ``sync_bn``: the engine's synchronised BatchNorm."""
    if recipe.kind == "supervised" and spec.name in zoo.names():  # sized to the data's classes
        spec = T.make_target_model(
            framework, len(train_set.classes), seed, None, train_set.image_shape, spec.name
        ).spec
        recipe = recipe.with_(batch=min(recipe.batch, len(train_set)))
    model = Model(spec, framework, seed=seed)
    run_dir = Path(out) if out else default_out_dir(model)
    history = DP.train_workers(
        model,
        recipe,
        steps,
        data=data,
        seed=seed,
        run_dir=run_dir,
        workers=workers,
        test_fraction=TEST_FRACTION,
        split_seed=SPLIT_SEED,
        resume=resume,
        sync_bn=sync_bn,
        nodes=nodes,
        ray=ray,
    )
    if nodes is not None and nodes.node_rank != 0:  # node 0 holds the checkpoint
        return {"framework": model.framework, "steps": steps, "node_rank": nodes.node_rank}, run_dir
    metrics = summarise(model, recipe, train_set, test_set, run_dir, data)
    metrics.update(
        steps=steps,
        final_loss=history.last("loss", 20),
        framework=model.framework,
        seed=seed,
        data=data,
        workers=workers,
        engine=model.backend.distributed.ENGINE,
        seconds_per_step=float(sum(history.column("seconds")) / max(1, len(history))),
    )
    write_json(run_dir / "metrics.json", metrics)
    return metrics, run_dir


def _sampler(model: Model, recipe: Recipe, out: Path) -> Callable[[int, Any], None] | None:
    """For GANs: a fixed-noise sample grid every ``recipe.checkpoint_every`` steps."""
    if recipe.kind != "adversarial":
        return None

    def sample(step: int, _record: dict[str, Any]) -> None:
        if step % recipe.checkpoint_every == 0:
            sample_grid(model, out / "samples" / f"step{step:06d}.png")

    return sample


def fit_to_data(spec: ModelSpec, source: str, image_shape: tuple[int, ...]) -> ModelSpec:
    """A zoo model rebuilt for the data's image shape (its factories take ``image_shape``);
    a spec file must already match. `ValueError` naming both shapes otherwise."""
    if _image_shape(spec) == tuple(image_shape):
        return spec
    if source in zoo.names():
        try:
            return zoo.create_spec(source, image_shape=tuple(image_shape))
        except ValueError as e:
            raise ValueError(
                f"{spec.name} cannot take the data's images {tuple(image_shape)}: {e}"
            ) from None
    raise ValueError(
        f"{spec.name} takes images {_image_shape(spec)}, the data has {tuple(image_shape)}; "
        "build the spec for it"
    )


def _image_shape(spec: ModelSpec) -> tuple[int, ...]:
    """The image shape a spec works on: its input, or a generator's output."""
    if "discriminator" in spec.networks:
        return spec.networks["discriminator"].input_shape
    return spec.input_shape


def summarise(
    model: Model,
    recipe: Recipe,
    train_set: D.Dataset,
    test_set: D.Dataset,
    out: Path,
    source: str = "digits",
    quick: bool = False,
) -> dict[str, Any]:
    """Evaluate and draw the pictures for the recipe's kind; returns the metrics. A GAN's
    FD is measured against ``source`` (the digits, MNIST-5k, a labelled file) in [0, 1] in
    the features of a classifier trained on it (its quick recipe when ``quick``), trained once
    per data set and cached (`shared_classifier_cache`; a file by its content, `data_key`)."""
    if recipe.kind == "reconstruction":
        metrics = evaluate(model, test_set, recipe, train_set)
        reconstruction_pictures(model, test_set, recipe, out)
        return metrics
    if recipe.kind == "supervised":
        logits = model.predict(test_set.x)
        return {"test_accuracy": float((logits.argmax(axis=1) == test_set.y).mean())}
    real = D.load(source, "unit")
    if real.y is None:
        return {"fd": f"not measured: {real.name} has no labels for the FD classifier"}
    classifier = recipe_for_data("classifier", source, zoo.entry("classifier").recipe)
    fd_steps = classifier.quick_steps if quick else classifier.steps
    cache = shared_classifier_cache(data_key(source, real), fd_steps)
    return gan_summary(
        model,
        History.load(out),
        out,
        seed=model.seed,
        real=real,
        classifier_steps=fd_steps,
        classifier_cache=cache,
    )


def evaluate_checkpoint(
    checkpoint: str, framework: str | None = None, data: str = "digits", out: str | None = None
) -> tuple[dict[str, Any], Path, Model]:
    """The metrics of a checkpoint (or run directory) on the held-out 20 %, built in
    ``framework`` (default: the one that trained it); pictures go to ``out``."""
    path = Path(checkpoint)
    if path.is_dir():
        path = path / "checkpoint.safetensors"
    spec, weights, meta = load_weights(path)
    recipe = (
        Recipe.from_dict(json.loads(meta["recipe"])) if "recipe" in meta else default_recipe(spec)
    )
    model = Model(spec, framework or meta["framework"], weights=weights)
    train_set, test_set = load_split(data, recipe.scale)
    run_dir = Path(out) if out else path.parent
    metrics = summarise(model, recipe, train_set, test_set, run_dir, data)
    return metrics, path, model
