"""``torch.nn.Sequential`` -> ONNX with ``torch.onnx.export``.

Default exporter: dynamo (``torch.export`` based, ~3 s a network here); ``"torchscript"`` is
the older tracer (~0.05 s), kept as a fallback option.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path

import onnx
import torch

from triptych.frameworks.torch.build import TorchBuilt

EXPORTERS = ("dynamo", "torchscript")


def export_network(
    built: TorchBuilt, opset: int, exporter: str | None = None
) -> tuple[onnx.ModelProto, str]:
    """The network in eval mode as an ONNX model (batch axis dynamic) and the exporter name."""
    exporter = exporter or "dynamo"
    if exporter not in EXPORTERS:
        raise ValueError(f"unknown torch exporter {exporter!r}; allowed: {', '.join(EXPORTERS)}")
    # the dynamo exporter logs a warning per missing torchvision op, on every export
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module="copyreg")
    module = built.native.eval()
    ids = built.network.input_dtype == "int64"
    example = (torch.zeros((2, *built.network.input_shape), dtype=torch.int64 if ids else None),)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        if exporter == "dynamo":
            batch = torch.export.Dim("batch", min=1, max=1 << 20)
            torch.onnx.export(
                module,
                example,
                str(path),
                dynamo=True,
                input_names=["input"],
                output_names=["output"],
                dynamic_shapes=({0: batch},),
                opset_version=max(opset, 18),
                external_data=False,
                verbose=False,
            )
        else:
            torch.onnx.export(
                module,
                example,
                str(path),
                dynamo=False,
                input_names=["input"],
                output_names=["output"],
                opset_version=opset,
                dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
            )
        model = onnx.load(str(path), load_external_data=True)
    return model, f"torch.onnx.export ({exporter}) {torch.__version__}"
