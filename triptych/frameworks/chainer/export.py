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

Its converters are completed by `_converters` (passed as ``external_converters``):

* ``Deconvolution2DFunction``: onnx-chainer writes ConvTranspose with ``output_shape``, from
  which ONNX (and ORT) derive the padding, the odd pixel at the end; with an
  ``output_padding`` that puts it at the wrong side (PyTorch pads ``padding`` at the top and
  adds the extra rows at the bottom), so such a node gets explicit ``pads`` and
  ``output_padding`` instead (the others are written as before);
* ``PReLUFunction``: ONNX PRelu broadcasts the slope from the last axis, so on (N, C, H, W)
  the (C,) slope is reshaped to (C, 1, 1) first (onnx-chainer passes it as it is);
* ``Erf`` (exact GELU's ``F.erf``), which onnx-chainer has no converter for: ONNX Erf;
* ``LayerNormalization`` (LayerNorm's ``F.layer_normalization`` on (M, C) rows), which it has
  no converter for either (and opset 11 no op): ReduceMean, Sub, Mul, ReduceMean, Add eps,
  Sqrt, Div, then the gamma Mul and the beta Add, Chainer's own computation;
* ``BroadcastToBatch`` (the class token broadcast to the batch of the tokens, triptych's own
  function node): Expand to Concat(Shape(tokens)[:1], token shape), so the batch stays
  symbolic where ``F.broadcast_to`` would write the trace's fixed batch.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import types
import warnings
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import numpy as np
import onnx

from triptych.common import spec as S
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


def _converters() -> dict[str, Any]:
    """The converters onnx-chainer lacks or writes wrongly here (module docstring), keyed by
    Chainer function name; each takes onnx-chainer's ``FunctionConverterParams``."""
    from onnx_chainer import onnx_helper
    from onnx_chainer.mapping import converters

    def deconvolution(params: Any) -> Any:
        func = params.func
        (h, w), (kh, kw) = func.inputs[0].shape[2:], func.inputs[1].shape[2:]
        dy, dx = getattr(func, "dy", 1), getattr(func, "dx", 1)
        extra = (
            func.outh - ((h - 1) * func.sy - 2 * func.ph + (kh - 1) * dy + 1),
            func.outw - ((w - 1) * func.sx - 2 * func.pw + (kw - 1) * dx + 1),
        )
        if extra == (0, 0):
            return converters["Deconvolution2DFunction"](params)
        node = onnx_helper.make_node(
            "ConvTranspose", params.input_names, params.output_names,
            kernel_shape=(kh, kw), pads=(func.ph, func.pw, func.ph, func.pw),
            strides=(func.sy, func.sx), dilations=(dy, dx), group=func.groups,
            output_padding=extra,
        )  # fmt: skip
        return (node,)

    def prelu(params: Any) -> Any:
        rank = len(params.func.inputs[0].shape)
        if rank <= 2:
            return converters["PReLUFunction"](params)
        x, slope = params.input_names
        shape = params.context.add_const(np.array([-1] + [1] * (rank - 2), np.int64), "shape")
        gb = onnx_helper.GraphBuilder()
        gb.op("PRelu", [x, gb.op("Reshape", [slope, shape])])
        return gb.nodes(output_names=params.output_names)

    def erf(params: Any) -> Any:
        return (onnx_helper.make_node("Erf", params.input_names, params.output_names),)

    def layer_normalization(params: Any) -> Any:
        x, gamma, beta = params.input_names
        eps = np.array(params.func.eps, params.func.inputs[0].dtype)
        gb = onnx_helper.GraphBuilder()
        d = gb.op("Sub", [x, gb.op("ReduceMean", [x], axes=[1], keepdims=1)])
        var = gb.op("ReduceMean", [gb.op("Mul", [d, d])], axes=[1], keepdims=1)
        std = gb.op("Sqrt", [gb.op("Add", [var, params.context.add_const(eps, "eps")])])
        gb.op("Add", [gb.op("Mul", [gb.op("Div", [d, std]), gamma]), beta])
        return gb.nodes(output_names=params.output_names)

    def broadcast_to_batch(params: Any) -> Any:
        token, x = params.input_names
        const = params.context.add_const
        first = [const(np.array([v], np.int64), n) for n, v in (("start", 0), ("end", 1))]
        rest = const(np.array(params.func.inputs[0].shape, np.int64), "shape")
        gb = onnx_helper.GraphBuilder()
        batch = gb.op("Slice", [gb.op("Shape", [x]), *first])
        gb.op("Expand", [token, gb.op("Concat", [batch, rest], axis=0)])
        return gb.nodes(output_names=params.output_names)

    return {
        "Deconvolution2DFunction": deconvolution,
        "PReLUFunction": prelu,
        "Erf": erf,
        "LayerNormalization": layer_normalization,
        "BroadcastToBatch": broadcast_to_batch,
    }


def export_network(
    built: ChainerBuilt, opset: int, exporter: str | None = None
) -> tuple[onnx.ModelProto, str]:
    """The network in eval mode as ONNX (opset 11, converted later), batch made dynamic by
    the post-processing."""
    if exporter not in (None, *EXPORTERS):
        raise ValueError(f"unknown chainer exporter {exporter!r}; allowed: onnx-chainer")
    # int64 ids for a token network: the traced input, and so the ONNX input, is int64
    dtype = S.numpy_input_dtype(built.network, "float32")
    example = np.zeros((2, *built.network.input_shape), dtype)
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
            external_converters=_converters(),
        )
    half_pixel_resize(model)
    origin = f"onnx_chainer.export {version('onnx-chainer')} (chainer {chainer.__version__})"
    return model, origin
