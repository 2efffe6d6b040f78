"""`triptych export MODEL|CHECKPOINT -f FW`: one checked .onnx per network.

MODEL is a zoo name (weights from --seed), a spec .json or a .safetensors checkpoint (its
weights). Files: ``<out>/<model>.<network>.<framework>.onnx``; NCHW I/O, dynamic batch.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="export a model's networks to ONNX", description=__doc__)
    p.add_argument("model", help="zoo name, spec .json or .safetensors checkpoint")
    p.add_argument("-f", "--framework", default="torch", help="framework (default torch)")
    p.add_argument("--out", default="onnx", help="output directory (default onnx/)")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    p.add_argument("--network", action="append", help="only this network (repeatable)")
    p.add_argument("--exporter", help="torch: dynamo (default) or torchscript")
    p.add_argument("--seed", type=int, default=0, help="seed of initial weights (default 0)")
    p.add_argument(
        "--triton-repo", metavar="DIR", help="also write a Triton/KServe model repository there"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from triptych.common.console import console
    from triptych.common.weights import load_weights
    from triptych.export.onnx_export import load_checked, metadata
    from triptych.model import Model, resolve_spec

    if str(args.model).endswith(".safetensors"):
        spec, weights, _ = load_weights(args.model)
        model = Model(spec, args.framework, weights=weights)
    else:
        model = Model(resolve_spec(args.model), args.framework, seed=args.seed)
    paths = model.export_onnx(
        args.out, networks=args.network, opset=args.opset, exporter=args.exporter
    )
    t = Table(title=f"exported {model.spec.name} from {model.framework}")
    for col in ("network", "file", "input", "output", "exporter"):
        t.add_column(col)
    for net, path in paths.items():
        meta = metadata(load_checked(path))
        t.add_row(net, str(path), meta["input"], meta["output"], meta["exporter"])
    console().print(t)
    if args.triton_repo:
        from triptych.serve.triton import write_triton_repo

        names = {p.stem.replace(".", "_"): p for p in paths.values()}
        dirs = write_triton_repo(names, args.triton_repo)
        console().print(f"Triton repository: {', '.join(str(d) for d in dirs)}")
    return 0
