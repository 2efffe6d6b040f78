"""`triptych import FILE.onnx [--out DIR]`: an ONNX file becomes a triptych spec plus
canonical weights, buildable natively in every framework.

Writes ``<out>/<name>.json`` (the spec, `ModelSpec.to_json`) and ``<out>/<name>.safetensors``
(weights with the spec in metadata: ``triptych.load(path, framework=...)`` builds it). A file
with nodes the layer vocabulary cannot express is refused with one line per node (op type,
node name, why) and exit status 2; nothing is written then.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from triptych.common.console import console
from triptych.common.weights import save_weights, write_text_atomic
from triptych.onnx_import import import_onnx


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "import", help="import an ONNX file as a triptych model", description=__doc__
    )
    p.add_argument("file", help="the .onnx file")
    p.add_argument("--out", default=".", help="output directory (default: the current one)")
    p.add_argument("--name", help="model name (default: the file's triptych metadata or stem)")
    p.add_argument("--network", help="network name (default: the file's metadata, else net)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    spec, weights = import_onnx(args.file, name=args.name, network=args.network)
    out = Path(args.out)
    weights_path = out / f"{spec.name}.safetensors"
    save_weights(weights_path, spec, weights, framework="onnx-import",
                 extra={"source_onnx": Path(args.file).name})  # fmt: skip
    try:
        spec_path = write_text_atomic(out / f"{spec.name}.json", spec.to_json())
    except BaseException:
        weights_path.unlink(missing_ok=True)
        raise
    net = spec.networks[spec.main_chain[0]]
    con = console()
    con.print(
        f"imported {args.file}: network {net.name!r}, {len(net.infos)} layers, "
        f"{net.params:,} parameters, {net.input_shape} -> {net.output_shape}"
    )
    con.print(f"spec: {spec_path}\nweights: {weights_path}")
    return 0
