"""`triptych train MODEL -f FW`: train with the model's recipe on the bundled digits (or an
IDX/NPZ file), then evaluate on the held-out 20 % and draw the pictures.

Writes to --out (default runs/train/<model>-<framework>): checkpoint.safetensors (+ optimizer
state), history.json/.csv (every step), metrics.json, and reconstructions.png /
inpainting.png / samples.png. --resume continues from the checkpoint there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.table import Table

TEST_FRACTION = 0.2
SPLIT_SEED = 0  # the train/test split never depends on the training seed


def add_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="train a model with its recipe", description=__doc__)
    p.add_argument("model", help="zoo name or spec .json")
    p.add_argument("-f", "--framework", default="torch", help="framework (default torch)")
    p.add_argument("--data", default="digits", help="digits (default), an IDX or .npz file")
    p.add_argument("--steps", type=int, help="optimizer steps (default: the recipe's)")
    p.add_argument("--quick", action="store_true", help="the recipe's quick step count")
    p.add_argument("--seed", type=int, default=0, help="weights, batches and noise (default 0)")
    p.add_argument("--out", help="run directory (default runs/train/<model>-<framework>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--l1", type=float, help="L1 weight on the code (sparse autoencoder)")
    p.add_argument(
        "--corruption",
        choices=("none", "gaussian", "masking"),
        help="input corruption (denoising autoencoder)",
    )
    p.add_argument("--classes", help="classifier: class filter, e.g. 0-4 (relabelled 0..n-1)")
    p.add_argument(
        "--init",
        help="classifier: backbone from a classifier or conv-autoencoder "
        "checkpoint (the head is re-initialised)",
    )
    p.add_argument(
        "--labels-per-class",
        type=int,
        metavar="K",
        help="classifier: train on K labelled examples per class",
    )
    p.add_argument("--freeze", default=None, help="classifier: head|most|few|none|auto")
    p.add_argument(
        "--lr-mult",
        action="append",
        metavar="LAYER=F",
        help="classifier: learning-rate multiplier, e.g. backbone.0=0.1",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def load_split(source: str, scale: str) -> tuple[Any, Any]:
    from triptych.common import data as D

    return D.load(source, scale).split(TEST_FRACTION, seed=SPLIT_SEED)


def run(args: argparse.Namespace) -> int:
    from triptych.model import Model, default_recipe, resolve_spec
    from triptych.report.console import console
    from triptych.training.loop import default_out_dir

    spec = resolve_spec(args.model)
    recipe = default_recipe(spec)
    changes: dict[str, Any] = {}
    if args.l1 is not None:
        changes["l1"] = args.l1
    if args.corruption is not None:
        changes["corruption"] = args.corruption
    recipe = recipe.with_(**changes)
    steps = args.steps or (recipe.quick_steps if args.quick else recipe.steps)
    train, test = load_split(args.data, recipe.scale)
    if recipe.kind == "supervised":
        return _train_classifier(args, recipe, steps, train, test)
    if any(
        v is not None
        for v in (args.classes, args.init, args.labels_per_class, args.freeze, args.lr_mult)
    ):
        raise ValueError(
            "--classes/--init/--labels-per-class/--freeze/--lr-mult apply to "
            f"the classifier, not to {spec.name}"
        )
    if train.image_shape != spec.input_shape and recipe.kind != "adversarial":
        raise ValueError(
            f"{spec.name} takes images {spec.input_shape}, the data has "
            f"{train.image_shape}; build the model for it (image_shape=...)"
        )
    model = Model(spec, args.framework, seed=args.seed)
    out = Path(args.out) if args.out else default_out_dir(model)
    history = model.fit(
        train,
        steps=steps,
        recipe=recipe,
        progress=not args.no_progress,
        out_dir=out,
        resume=args.resume,
        callback=_sampler(model, recipe, out),
    )
    metrics = summarise(model, recipe, train, test, out)
    metrics.update(
        steps=steps,
        final_loss=history.last("loss", 20),
        framework=model.framework,
        seed=args.seed,
        data=args.data,
    )
    write_json(out / "metrics.json", metrics)
    con = console()
    con.print(metrics_table(f"{spec.name} · {model.framework} · {steps} steps", metrics))
    con.print(f"run directory: {out}")
    return 0


def _train_classifier(
    args: argparse.Namespace, recipe: Any, steps: int, train: Any, test: Any
) -> int:
    """Pretrain (``--classes``) or transfer (``--init``, ``--freeze``, ``--lr-mult``,
    ``--labels-per-class``) the classifier."""
    from triptych.report.console import console
    from triptych.training import transfer as T
    from triptych.training.loop import default_out_dir

    if args.classes:
        classes = T.class_range(args.classes)
        train, test = train.filter_classes(classes), test.filter_classes(classes)
    k = args.labels_per_class
    if k is not None:
        train = train.per_class(k, seed=args.seed)
    model = T.make_target_model(
        args.framework, len(train.classes), args.seed, args.init, image_shape=train.image_shape
    )
    policy = args.freeze or "none"
    frozen = T.frozen_layers(model.spec, policy, k or float("inf"))
    lr_mult = T.expand_lr_mult(model.spec, T.parse_lr_mult(args.lr_mult))
    out = Path(args.out) if args.out else default_out_dir(model)
    history = model.fit(
        train,
        steps=steps,
        recipe=recipe.with_(batch=min(recipe.batch, len(train))),
        progress=not args.no_progress,
        out_dir=out,
        frozen=frozen,
        lr_mult=lr_mult,
        resume=args.resume,
    )
    metrics = {
        "test_accuracy": T.accuracy(model, test),
        "classes": list(train.classes),
        "train_examples": len(train),
        "policy": T.resolve_policy(policy, k or 1e9),
        "frozen_layers": len(frozen),
        "init": args.init or "scratch",
        "steps": steps,
        "final_loss": history.last("loss", 10),
        "framework": model.framework,
        "seed": args.seed,
    }
    write_json(out / "metrics.json", metrics)
    console().print(metrics_table(f"classifier · {model.framework} · {steps} steps", metrics))
    console().print(f"run directory: {out}")
    return 0


def _sampler(model: Any, recipe: Any, out: Path) -> Any:
    """For GANs: a fixed-noise sample grid every ``recipe.checkpoint_every`` steps."""
    if recipe.kind != "adversarial":
        return None
    from triptych.training.gan_pictures import sample_grid

    def sample(step: int, _record: dict[str, Any]) -> None:
        if step % recipe.checkpoint_every == 0:
            sample_grid(model, out / "samples" / f"step{step:06d}.png")

    return sample


def summarise(model: Any, recipe: Any, train: Any, test: Any, out: Path) -> dict[str, Any]:
    """Evaluate and draw the pictures for the recipe's kind; returns the metrics."""
    from triptych.training.evaluate import evaluate
    from triptych.training.pictures import reconstruction_pictures

    if recipe.kind == "reconstruction":
        metrics = evaluate(model, test, recipe, train)
        reconstruction_pictures(model, test, recipe, out)
        return metrics
    if recipe.kind == "supervised":
        logits = model.predict(test.x)
        return {"test_accuracy": float((logits.argmax(axis=1) == test.y).mean())}
    from triptych.training.gan_pictures import gan_summary
    from triptych.training.history import History

    return gan_summary(model, History.load(out), out, seed=model.seed)


def write_json(path: Path, data: dict[str, Any]) -> None:
    from triptych.common.weights import write_text_atomic

    text = json.dumps(data, indent=2, default=float)
    write_text_atomic(path, text)


def metrics_table(title: str, metrics: dict[str, Any]) -> Table:
    t = Table(title=title)
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in metrics.items():
        t.add_row(k, f"{v:.5g}" if isinstance(v, float) else str(v))
    return t
