"""Chainer chain -> ONNX with ``onnx_chainer.export`` (onnx-chainer 1.6.0, 2019), with its
compat cures.

onnx-chainer traces one forward in eval mode at a fixed batch (2) and writes opset <= 11
(its newest converters); the common post-processing makes the batch axis symbolic (every
Reshape the backend writes has -1 for the batch, so the graph is batch-free) and converts
to the opset asked for. It imports ``onnx.mapping`` (removed in onnx 1.15), so it is imported
and run inside `onnx_compat.onnx_mapping`. Its ``resize_images`` converter writes a linear
``Resize`` with asymmetric coordinates whatever ``align_corners`` says; triptych's bilinear
Upsample runs with ``align_corners=False``, so those nodes get ``half_pixel``. Its
``__init__`` imports ``pkg_resources`` for its version (`_pkg_resources`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import types
import warnings
from collections.abc import Iterator
from importlib.metadata import version

import numpy as np
import onnx

from triptych.frameworks.chainer.build import ChainerBuilt
from triptych.frameworks.chainer.compat import chainer
from triptych.frameworks.onnx_compat import half_pixel_resize, onnx_mapping

EXPORTERS = ("onnx-chainer",)


@contextlib.contextmanager
def _pkg_resources() -> Iterator[None]:
    """onnx-chainer's ``__init__`` reads its own version with ``pkg_resources``, which
    setuptools >= 81 no longer ships: while it is imported, a stand-in answers
    ``get_distribution(name).version`` from ``importlib.metadata`` (a no-op where the real
    one exists)."""
    if importlib.util.find_spec("pkg_resources") is not None:
        yield
        return
    stub = types.ModuleType("pkg_resources")
    stub.get_distribution = lambda name: types.SimpleNamespace(  # type: ignore[attr-defined]
        version=version(name)
    )
    sys.modules["pkg_resources"] = stub
    try:
        yield
    finally:
        sys.modules.pop("pkg_resources", None)


ONNX_CHAINER_OPSET = 11


def export_network(
    built: ChainerBuilt, opset: int, exporter: str | None = None
) -> tuple[onnx.ModelProto, str]:
    """The network in eval mode as ONNX (opset 11, converted later), batch made dynamic by
    the post-processing."""
    if exporter not in (None, *EXPORTERS):
        raise ValueError(f"unknown chainer exporter {exporter!r}; allowed: onnx-chainer")
    example = np.zeros((2, *built.network.input_shape), np.float32)
    with onnx_mapping(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its resize_images notice, cured below
        try:
            with _pkg_resources():
                import onnx_chainer
        except ImportError as e:
            raise ImportError(
                "chainer export needs onnx-chainer: pip install --no-deps onnx-chainer==1.6.0 "
                "(make setup does; its metadata pins chainer<7 and onnx<1.7, not needed)"
            ) from e

        model = onnx_chainer.export(
            built.native,
            example,
            opset_version=ONNX_CHAINER_OPSET,
            input_names=["input"],
            output_names=["output"],
        )
    half_pixel_resize(model)
    origin = f"onnx_chainer.export {version('onnx-chainer')} (chainer {chainer.__version__})"
    return model, origin
