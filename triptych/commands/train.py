"""`triptych train MODEL -f FW`: train with the model's recipe on the bundled digits (or an
IDX/NPZ file), then evaluate on the held-out 20 % and draw the pictures.

Writes to --out (default runs/train/<model>-<framework>): checkpoint.safetensors (+ optimizer
state), history.json/.csv (every step), metrics.json, and reconstructions.png /
inpainting.png / samples.png. --resume continues from the checkpoint there. --workers N
trains with N data-parallel processes on the framework's own engine (rank 0 checkpoints;
worker logs in --out/workers); a dead or hung worker fails the run with one line (exit 1).
--resume continues a checkpoint whatever number of workers or nodes wrote it (with --nnodes,
each node reads it from its own --out); --sync-bn uses the
engine's synchronised BatchNorm (TensorFlow; refused with why on torch-CPU and MXNet).
--nnodes N --node-rank R --coordinator HOST:PORT, run on each of N machines, trains on
N x --workers processes (node 0 writes --out; the others write worker logs only); a node
that dies or never arrives fails the run on every node within --timeout seconds.
--launcher ray places the --workers on Ray (a local one, or --ray-address).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from triptych.commands import options
from triptych.common.console import console
from triptych.common.recipe import CORRUPTIONS
from triptych.report.tables import metrics_table
from triptych.training import distributed as DP
from triptych.training.distributed import DataParallelError
from triptych.training.run import TransferOptions, train


def add_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="train a model with its recipe", description=__doc__)
    p.add_argument("model", help="zoo name or spec .json")
    options.add_framework_option(p)
    p.add_argument(
        "--data",
        default="digits",
        help="digits (default), digits28, mnist (MNIST-5k, 28x28), a .npz or IDX file, or "
        "a directory of MNIST/Fashion-MNIST IDX files as they ship",
    )
    p.add_argument(
        "--steps", type=options.positive_int("--steps"), help="optimizer steps (default: recipe's)"
    )
    p.add_argument("--quick", action="store_true", help="the recipe's quick step count")
    p.add_argument("--seed", type=int, default=0, help="weights, batches and noise (default 0)")
    p.add_argument("--out", help="run directory (default runs/train/<model>-<framework>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--l1", type=options.optional_float("--l1"), help="L1 weight on the code (sparse AE)"
    )
    p.add_argument(
        "--corruption",
        choices=CORRUPTIONS,
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
        type=options.positive_int("--labels-per-class"),
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
    p.add_argument(
        "--workers",
        type=options.positive_int("--workers"),
        default=1,
        metavar="N",
        help="N data-parallel worker processes on this machine, the framework's own engine "
        "(torch: gloo all-reduce; mxnet: kvstore dist_sync; tensorflow: "
        "MultiWorkerMirroredStrategy); default 1",
    )
    p.add_argument(
        "--sync-bn",
        action="store_true",
        help="with --workers: the engine's synchronised BatchNorm (global-batch statistics; "
        "TensorFlow only: torch's SyncBatchNorm is GPU-only, MXNet's is one-process only)",
    )
    p.add_argument(
        "--nnodes",
        type=options.positive_int("--nnodes"),
        default=1,
        metavar="N",
        help="machines in a multi-node job (run this command on each); default 1",
    )
    p.add_argument(
        "--node-rank",
        type=int,
        default=0,
        metavar="R",
        help="this machine's rank 0..N-1 (node 0 hosts the coordinator); default 0",
    )
    p.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        help="with --nnodes > 1: node 0's address and a free port on it",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DP.DEFAULT_NODE_TIMEOUT_S,
        metavar="SECONDS",
        help="multi-node (--nnodes, or a torchrun / TF_CONFIG worker): seconds to wait for "
        "a node to arrive, answer or finish, and for a collective "
        f"(default {DP.DEFAULT_NODE_TIMEOUT_S:g}); one node's --workers keep 120",
    )
    p.add_argument(
        "--launcher",
        choices=("local", "ray"),
        default="local",
        help="who starts the --workers: local (triptych's own processes, default) or ray "
        "(Ray Train's TorchTrainer/TensorflowTrainer, Ray actors for MXNet; needs "
        "triptych[ray])",
    )
    p.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="with --launcher ray: a running Ray cluster (default: a local Ray, started "
        "and shut down by triptych)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        metrics, run_dir = _train(args)
    except DataParallelError as e:  # a worker died or the job timed out: one line
        print(f"triptych train: error: {e}", file=sys.stderr)
        return 1
    if "node_rank" in metrics:  # a node other than 0 of a multi-node job
        console().print(f"node {metrics['node_rank']} done; node 0 wrote the run directory "
                        f"(this node's worker logs: {run_dir}/workers)")  # fmt: skip
        return 0
    title = f"{args.model} · {metrics['framework']} · {metrics['steps']} steps"
    console().print(metrics_table(title, metrics))
    console().print(f"run directory: {run_dir}")
    return 0


def _train(args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    return train(
        args.model,
        args.framework,
        data=args.data,
        steps=args.steps,
        quick=args.quick,
        seed=args.seed,
        out=args.out,
        resume=args.resume,
        l1=args.l1,
        corruption=args.corruption,
        transfer=TransferOptions(
            args.classes,
            args.init,
            args.labels_per_class,
            args.freeze,
            tuple(args.lr_mult) if args.lr_mult else None,
        ),
        progress=not args.no_progress,
        workers=args.workers,
        sync_bn=args.sync_bn,
        nodes=_nodes(args),
        ray=_ray(args),
    )


def _ray(args: argparse.Namespace) -> DP.RayOptions | None:
    """``--launcher ray`` as `RayOptions` (None: triptych's own launcher)."""
    if args.launcher != "ray":
        if args.ray_address:
            raise ValueError("--ray-address applies to --launcher ray")
        return None
    return DP.RayOptions(args.ray_address)


def _nodes(args: argparse.Namespace) -> DP.Nodes | None:
    """The multi-node flags as `Nodes` (None: one machine); ValueError names a bad flag."""
    if args.nnodes == 1:
        joined = DP.joined_nodes(args.framework, args.timeout)
        if joined is not None:  # a worker torchrun / a TF_CONFIG cluster manager started
            if args.workers != 1:
                raise ValueError(
                    "--workers: this process is one worker of a job its cluster manager "
                    "started (torchrun / TF_CONFIG); leave --workers out"
                )
            return joined
        if args.node_rank != 0:
            raise ValueError(f"--node-rank {args.node_rank} needs --nnodes > {args.node_rank}")
        return None
    return DP.Nodes.parse(args.nnodes, args.node_rank, args.coordinator, args.timeout)
