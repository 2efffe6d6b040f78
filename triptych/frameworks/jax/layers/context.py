"""What every JAX layer converter gets and returns.

A converter turns a spec layer into a `Node`: a pure function ``node(p, xs, run) -> y`` of
its parameters ``p`` (canonical name -> array, PyTorch layout, running statistics included),
its input arrays ``xs`` (NCHW, batch first) and the `Run` of the forward (train or eval,
Dropout masks, the RNG key, where BatchNorm writes its new running statistics). Nodes close
over numpy constants made at build time in the build's dtype (the shapes are known then:
a pooling divisor, an interpolation matrix), which ``jax.jit`` embeds in the program."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.common.registry import ConverterRegistry

Array = Any  # a jax.Array (or a tracer of one)


@dataclass(frozen=True)
class BuildContext:
    """The layer being built: ``info`` (its layer, input shape(s), key and inputs), its
    ``index`` in the network and the ``dtype`` of the build (float32 or float64)."""

    info: S.LayerInfo
    index: int
    dtype: np.dtype

    @property
    def input_shape(self) -> S.Shape:
        return self.info.input_shape

    def const(self, value: Any) -> np.ndarray:
        """``value`` as a numpy constant in the build's dtype."""
        return np.asarray(value, self.dtype)


@dataclass
class Run:
    """One forward: ``training`` (batch statistics, Dropout on), ``masks`` (exact Dropout:
    layer index -> canonical mask) or else ``key`` (a PRNG key the Dropout layers fold their
    index into), ``frozen`` (layer indices whose BatchNorm runs in eval mode while training)
    and ``updates`` (filled by BatchNorm: canonical local name -> new running statistic).
    ``portable``: the forward being exported: nodes write the equivalent formulation that
    jax2tf lowers to plain TensorFlow ops (`triptych.frameworks.jax.export`) where JAX's
    own primitive has none (grouped convolutions, ``expm1``, ``log1p``)."""

    training: bool = False
    masks: dict[int, Array] | None = None
    key: Array | None = None
    frozen: frozenset[int] = frozenset()
    updates: dict[str, Array] = field(default_factory=dict)
    portable: bool = False


Node = Callable[[dict[str, Array], list[Array], Run], Array]
Converter = Callable[[S.Layer, BuildContext], Node]

#: spec layer class -> the function building its node
CONVERTERS: ConverterRegistry[Converter] = ConverterRegistry("jax", "layer")


def unary(fn: Callable[[Array], Array], portable: Callable[[Array], Array] | None = None) -> Node:
    """A node applying ``fn`` to its one input (no parameters); ``portable`` instead in an
    exported forward when given (`Run.portable`)."""

    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        return (portable or fn)(xs[0]) if run.portable else fn(xs[0])

    return node


def tf_softmax(x: Array, axis: int) -> Array:
    """softmax(x) along ``axis`` as TensorFlow's own op inside a jax2tf export
    (``jax2tf.call_tf(tf.nn.softmax)``), so the ONNX file has one ``Softmax`` node (JAX has
    no softmax primitive: ``jax.nn.softmax`` is written out as Exp/ReduceSum/Div, which ONNX
    readers do not take for an attention's softmax). Only for `Run.portable` forwards."""
    import tensorflow as tf
    from jax import ShapeDtypeStruct
    from jax.experimental import jax2tf

    call = jax2tf.call_tf(
        lambda t: tf.nn.softmax(t, axis=axis),
        output_shape_dtype=ShapeDtypeStruct(x.shape, x.dtype),
    )
    return call(x)


def channel_view(values: Array, rank: int) -> Array:
    """Per-channel ``values`` (C,) shaped to broadcast over a batch of per-sample rank
    ``rank`` along its first per-sample axis: (C, 1, 1) for an image, (C,) for a vector,
    (C, 1) for (L, C)... (axis 1 of the batch)."""
    return values.reshape(values.shape + (1,) * (rank - 1))
