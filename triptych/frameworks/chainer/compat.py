"""Chainer set-up: ``import chainer`` with its one incompatibility with this stack cured.

Chainer 7.8.1 (2020, the last release; pure Python on numpy) runs on numpy 1.26, but its
import-time environment check (``chainer._environment_check``) imports
``numpy.distutils.system_info`` and ``pkg_resources``; with setuptools >= 70 the first fails
(``No module named 'distutils.msvccompiler'``). The check only warns (about macOS
Accelerate and optional-dependency versions), so it is replaced by a no-op module before
``import chainer``. ``resize_images`` (bilinear Upsample) uses ``numpy.float``, an alias
numpy 1.24 removed; that one function (``compute_indices_and_weights``) runs with a numpy
that still has it (`_NumpyWithFloat`); numpy itself is left as it is. A transposed
convolution whose input needs no gradient (the first layer of a network) fails in backward:
``Deconvolution2DFunction.backward`` calls ``_set_cover_all(x, W)`` with the arrays where it
expects their shapes (``not enough values to unpack``); `_set_cover_all` takes either.

Chainer's sdist needs ``setuptools<70`` to build: ``make setup`` builds its wheel in a
separate build environment (see the Makefile).
"""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy

if "chainer" not in sys.modules:
    _check = types.ModuleType("chainer._environment_check")
    _check.check = lambda: None  # type: ignore[attr-defined]
    sys.modules["chainer._environment_check"] = _check

# isort: split
import chainer
import chainer.functions as F
import chainer.links as L
from chainer.functions.array import resize_images as _resize_images
from chainer.functions.connection import deconvolution_2d as _deconvolution


class _NumpyWithFloat(types.ModuleType):
    """numpy as ``resize_images`` needs it: ``float`` is the builtin (the removed alias)."""

    float = float

    def __getattr__(self, name: str) -> Any:
        return getattr(numpy, name)


_indices = _resize_images.compute_indices_and_weights
_resize_images.compute_indices_and_weights = types.FunctionType(
    _indices.__code__,
    {**_indices.__globals__, "numpy": _NumpyWithFloat("numpy")},
    _indices.__name__,
    _indices.__defaults__,
    _indices.__closure__,
)

_deconv = _deconvolution.Deconvolution2DFunction
_set_cover_all = _deconv._set_cover_all


def _set_cover_all_of_shapes(self: Any, x_shape: Any, w_shape: Any) -> None:
    """Chainer's ``_set_cover_all`` on shapes, given shapes or the arrays themselves."""
    _set_cover_all(self, getattr(x_shape, "shape", x_shape), getattr(w_shape, "shape", w_shape))


_deconv._set_cover_all = _set_cover_all_of_shapes

__all__ = ["F", "L", "chainer"]
