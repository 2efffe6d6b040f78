"""ONNX import: an ONNX file whose ops the layer vocabulary expresses becomes a triptych
`ModelSpec` (one network) plus canonical weights (PyTorch layout), buildable natively in
every framework.

``reader`` loads, checks and shape-infers the file, folds its constants and fuses multi-op
activation patterns (``patterns``); ``ops`` is the table of op converters; ``ir`` holds
layers still open to folding and values as index maps; ``builder`` walks the graph and emits
the spec; ``names`` makes layer names from initializer names. Unsupported nodes are all
reported at once (`UnsupportedOnnx`, one line each).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import onnx

from triptych.common import spec as S
from triptych.onnx_import.builder import Builder
from triptych.onnx_import.errors import UnsupportedOnnx
from triptych.onnx_import.reader import read

__all__ = ["UnsupportedOnnx", "import_onnx"]


def _identifier(text: str, default: str) -> str:
    text = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_")
    return text if text and not text[0].isdigit() else default


def import_onnx(
    path: str | os.PathLike | onnx.ModelProto,
    name: str | None = None,
    network: str | None = None,
) -> tuple[S.ModelSpec, dict[str, np.ndarray]]:
    """(spec, canonical weights) of the ONNX model at ``path``.

    The spec has one network, ``network`` (default: the file's triptych metadata
    ``network``, else ``net``), and is named ``name`` (default: the metadata ``model``, else
    the file's stem). Raises `UnsupportedOnnx` listing every node the vocabulary cannot
    express, `ValueError` for a file that is not one-input one-output at opset 13-20.

    A file whose (N, H, W, C) input is transposed to NCHW (tf2onnx's Keras graphs) imports
    as a network taking (C, H, W), with ``spec.options["input_layout"] == "NHWC"`` recording
    the file's layout; ``Model.predict(x, layout="NHWC")`` takes inputs in that layout."""
    graph = read(path)
    builder = Builder(graph)
    output = builder.run()
    stem = "model" if isinstance(path, onnx.ModelProto) else Path(path).name.split(".")[0]
    net_name = _identifier(network or graph.metadata.get("network", "net"), "net")
    model_name = name or graph.metadata.get("model") or _identifier(stem, "model")
    net, weights = builder.emit(net_name, output)
    options = {"input_layout": "NHWC"} if builder.input_layout == "NHWC" else {}
    return S.ModelSpec(model_name, {net_name: net}, main=net_name, options=options), weights
