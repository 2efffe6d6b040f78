"""`triptych evaluate CHECKPOINT`: the metrics of a trained model on the held-out 20 %.

The checkpoint carries its spec and recipe; -f builds it in any framework.
"""

from __future__ import annotations

import argparse
from typing import Any

from triptych.commands import options
from triptych.common.console import console
from triptych.report.tables import metrics_table
from triptych.training.run import evaluate_checkpoint


def add_parser(sub: Any) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained checkpoint", description=__doc__)
    p.add_argument("checkpoint", help="checkpoint.safetensors (or its run directory)")
    p.add_argument(
        "-f",
        "--framework",
        type=options.framework_name,
        metavar="FW",
        help="framework (default: the one that trained it)",
    )
    p.add_argument(
        "--data",
        default="digits",
        help="digits (default), digits28, mnist (MNIST-5k, 28x28), a .npz or IDX file, or "
        "a directory of MNIST/Fashion-MNIST IDX files as they ship",
    )
    p.add_argument("--out", help="where to draw the pictures (default: beside the checkpoint)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    metrics, path, model = evaluate_checkpoint(args.checkpoint, args.framework, args.data, args.out)
    console().print(metrics_table(f"{model.spec.name} · {model.framework} · {path}", metrics))
    return 0
