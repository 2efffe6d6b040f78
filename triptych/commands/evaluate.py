"""`triptych evaluate CHECKPOINT`: the metrics of a trained model on the held-out 20 %.

The checkpoint carries its spec and recipe; -f builds it in any framework.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained checkpoint", description=__doc__)
    p.add_argument("checkpoint", help="checkpoint.safetensors (or its run directory)")
    p.add_argument("-f", "--framework", help="framework (default: the one that trained it)")
    p.add_argument("--data", default="digits", help="digits (default), an IDX or .npz file")
    p.add_argument("--out", help="where to draw the pictures (default: beside the checkpoint)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from triptych.commands.train import load_split, metrics_table, summarise
    from triptych.common.recipe import Recipe
    from triptych.common.weights import load_weights
    from triptych.model import Model, default_recipe
    from triptych.report.console import console

    path = Path(args.checkpoint)
    if path.is_dir():
        path = path / "checkpoint.safetensors"
    spec, weights, meta = load_weights(path)
    recipe = (
        Recipe.from_dict(json.loads(meta["recipe"])) if "recipe" in meta else default_recipe(spec)
    )
    model = Model(spec, args.framework or meta["framework"], weights=weights)
    train, test = load_split(args.data, recipe.scale)
    out = Path(args.out) if args.out else path.parent
    metrics = summarise(model, recipe, train, test, out)
    console().print(metrics_table(f"{spec.name} · {model.framework} · {path}", metrics))
    return 0
