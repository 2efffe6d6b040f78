"""Export dispatch: any `Model` network, from any framework, to a checked ONNX file.

Files are named ``<model>.<network>.<framework>.onnx``, written to a temporary name and
renamed into place, so a failed export leaves nothing behind. `export_model` writes every
network of a model into a temporary directory (``out_dir/.export.tmp-*``, removed after, and
stale ones at the next export) and moves the files into place only when all succeeded, holding
a flock on ``out_dir`` meanwhile (a second exporter into the directory is refused at once).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import onnx

from triptych.common.weights import atomic_write, dir_lock
from triptych.export.postprocess import ExportError, finalize
from triptych.frameworks.base import ModelLike

DEFAULT_OPSET = 18


def export_network(
    model: ModelLike,
    network: str,
    out_dir: str | os.PathLike,
    opset: int = DEFAULT_OPSET,
    exporter: str | None = None,
) -> Path:
    """Export one network of ``model`` to ``out_dir``; returns the file path.

    ``exporter`` picks among a framework's exporters (torch: dynamo (default) or
    torchscript); ``opset`` defaults to 18.
    """
    if network not in model.spec.networks:
        raise ValueError(
            f"model {model.spec.name!r} has no network {network!r}; networks: "
            f"{', '.join(model.spec.networks)}"
        )
    if not 13 <= int(opset) <= 21:
        raise ValueError(f"opset {opset} is not supported; allowed 13..21")
    net = model.spec.networks[network]
    try:
        raw, exporter_name = model.backend.export.export_network(
            model.built(network), int(opset), exporter
        )
    except ValueError:
        raise
    except Exception as e:  # exporter internals: report which exporter failed and why
        raise ExportError(
            f"{model.framework} exporter failed on {model.spec.name}.{network}: "
            f"{type(e).__name__}: {e}"
        ) from e
    final = finalize(
        raw,
        net,
        framework=model.framework,
        model_name=model.spec.name,
        spec_hash=model.spec.hash,
        exporter=exporter_name,
        opset=int(opset),
    )
    path = Path(out_dir) / f"{model.spec.name}.{network}.{model.framework}.onnx"
    return atomic_write(path, lambda tmp: onnx.save(final, tmp))


def export_model(
    model: ModelLike,
    out_dir: str | os.PathLike,
    networks: list[str] | None = None,
    opset: int = DEFAULT_OPSET,
    exporter: str | None = None,
) -> dict[str, Path]:
    """Export every network (or ``networks``) of ``model``: network name -> path. All or
    nothing: the files move into ``out_dir`` only after every export succeeded."""
    out = Path(out_dir)
    with dir_lock(out, "export directory", pid_file=False):
        for stale in out.glob(f"{TMP_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=out))
        try:
            staged = {
                name: export_network(model, name, tmp, opset, exporter)
                for name in (networks or list(model.spec.networks))
            }
            done = {}
            for name, path in staged.items():
                done[name] = out / path.name
                os.replace(path, done[name])
            return done
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


#: temporary directories of `export_model` inside the export directory
TMP_PREFIX = ".export.tmp-"


def load_checked(path: str | os.PathLike) -> onnx.ModelProto:
    """Load an ONNX file and run the full checker; one clear `ExportError` on any fault."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX file at {path}")
    try:
        model = onnx.load(str(path))
    except Exception as e:  # protobuf DecodeError on corrupt or truncated files
        raise ExportError(
            f"{path} is not a valid ONNX file ({type(e).__name__}: {str(e) or 'cannot parse'})"
        ) from None
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:
        raise ExportError(f"{path} fails the ONNX checker: {e}") from None
    return model


def metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}
