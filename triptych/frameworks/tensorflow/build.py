"""Spec -> a Keras 3 functional model running NHWC (a chain and a graph alike: one node per
spec node, merges with ``Add``/``Concatenate``); canonical (NCHW, PyTorch layout) <-> Keras.

Conversions at the boundary: inputs NCHW -> NHWC and outputs back; Conv2d OIHW -> HWIO;
ConvTranspose2d IOHW -> (kh, kw, out, in); Dense (out, in) -> (in, out) with the feature
permutations of `layout.plan_layout`. Strided convolutions use explicit ``ZeroPadding2D`` +
``padding="valid"`` (Keras ``"same"`` pads (0, 1) on even inputs, PyTorch pads (1, 1)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from keras import ops

from triptych.common import spec as S
from triptych.frameworks.tensorflow import float64_ops, layout
from triptych.frameworks.tensorflow.compat import keras, tf


class TorchStyleBatchNorm(keras.layers.BatchNormalization):
    """Keras BatchNormalization whose moving variance uses the *unbiased* batch variance.

    PyTorch normalises with the biased batch variance but tracks the unbiased one
    (n/(n-1) ×); stock Keras tracks the biased one. Normalisation itself is unchanged.
    """

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        if not (training and self.trainable):
            return super().call(inputs, training=False, mask=mask)
        dtype = keras.backend.result_type(inputs.dtype, "float32")  # as Keras: f32 or f64
        inputs = ops.cast(inputs, dtype)
        mean, variance = self._moments(inputs, mask)
        shape = ops.shape(inputs)
        n = ops.cast(shape[0], dtype)
        for d in inputs.shape[1:-1]:
            n = n * float(d)
        unbiased = variance * n / ops.maximum(n - 1.0, 1.0)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + unbiased * (1.0 - self.momentum)
        )
        return ops.batch_normalization(
            inputs,
            mean,
            variance,
            axis=self.axis,
            offset=self.beta,
            scale=self.gamma,
            epsilon=self.epsilon,
        )


class MaskedDropout(keras.layers.Dropout):
    """Keras Dropout with exact Dropout (`triptych.common.dropout`). In training it
    multiplies by, in this order of precedence:

    * ``mask_input``: a mask tensor of the graph being traced (a statically shaped input of
      the train step, `triptych.frameworks.tensorflow.train.SupervisedStep.run_masked`),
      set only while that step traces;
    * with ``exact`` on (`set_dropout_masks`): the mask held in a shape-less ``tf.Variable``;
    * otherwise Keras's own Dropout.

    Inference is the identity. ``exact`` and ``mask_input`` are read when a ``tf.function``
    traces; a new mask is a variable assignment or a new input, so a traced step does not
    retrace. Both are set with ``object.__setattr__`` so Keras does not track them (they
    are no weights of the model).
    """

    def __init__(self, rate: float, **kwargs: Any) -> None:
        super().__init__(rate, **kwargs)
        object.__setattr__(self, "exact", False)
        object.__setattr__(self, "mask_input", None)
        object.__setattr__(
            self,
            "mask_var",
            tf.Variable(
                np.ones((1,), self.compute_dtype), shape=tf.TensorShape(None), trainable=False
            ),
        )

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if training and self.mask_input is not None:
            # a constant of the step: no gradient for it is built (measured ~1.5 % of a
            # classifier step, with the same numbers)
            return inputs * tf.stop_gradient(self.mask_input)
        if training and self.exact:
            return inputs * tf.reshape(self.mask_var, tf.shape(inputs))
        return super().call(inputs, training=training)


class ConstantPadding2D(keras.layers.Layer):
    """Symmetric spatial padding with a constant (-inf before a padded max-pool: PyTorch
    pads max-pooling with -inf, Keras has no such padding layer)."""

    def __init__(self, padding: int, value: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.padding, self.value = int(padding), float(value)

    def call(self, x: Any) -> Any:
        p = self.padding
        return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], constant_values=self.value)

    def compute_output_shape(self, shape: Any) -> Any:
        n, h, w, c = shape
        grow = 2 * self.padding
        return (n, None if h is None else h + grow, None if w is None else w + grow, c)


#: canonical NCHW axis (batch = 0) -> Keras NHWC axis, for rank-4 tensors
NHWC_AXIS = {1: 3, 2: 1, 3: 2}


@dataclass
class KerasBuilt:
    network: S.Network
    native: keras.Model
    plan: layout.LayoutPlan
    holders: dict[int, keras.layers.Layer] = field(default_factory=dict)
    #: tf.function per (training, exact Dropout) (eager Keras calls cost ~ms each)
    compiled: dict[tuple[bool, bool], Any] = field(default_factory=dict)
    #: canonical layer index -> its MaskedDropout (exact Dropout)
    dropouts: dict[int, MaskedDropout] = field(default_factory=dict)
    #: the precision of every layer, variable, input and output ("float32" or "float64")
    dtype: str = "float32"


def _nhwc(shape: S.Shape) -> S.Shape:
    return (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape


def _layers(
    i: int, info: S.LayerInfo, plan: layout.LayoutPlan, dtype: str = "float32"
) -> list[keras.layers.Layer]:
    """Keras layers for canonical layer ``i``, each in ``dtype`` (its dtype policy: a Keras
    layer casts its inputs to it, so every one gets it; float64 swaps in `float64_ops`'
    stand-ins where Keras rounds through float32); the weight holder, if any, comes
    last-but-crop."""
    layer, shape, kw = info.layer, info.input_shape, {"dtype": dtype}
    if isinstance(layer, S.Dense):
        return [keras.layers.Dense(layer.units, use_bias=layer.bias, **kw)]
    if isinstance(layer, S.Conv2d):
        pad = [keras.layers.ZeroPadding2D(layer.padding, **kw)] if layer.padding else []
        return [
            *pad,
            keras.layers.Conv2D(
                layer.out_channels,
                layer.kernel,
                layer.stride,
                padding="valid",
                use_bias=layer.bias,
                **kw,
            ),
        ]
    if isinstance(layer, S.ConvTranspose2d):
        # "valid" gives H·s + max(k - s, 0); crop to PyTorch's (H-1)·s + k - 2p.
        extra = max(layer.stride - layer.kernel, 0)
        crop = ((layer.padding, layer.padding + extra),) * 2
        conv = keras.layers.Conv2DTranspose(
            layer.out_channels,
            layer.kernel,
            layer.stride,
            padding="valid",
            use_bias=layer.bias,
            **kw,
        )
        return [conv, keras.layers.Cropping2D(crop, **kw)] if any(crop[0]) else [conv]
    if isinstance(layer, S.BatchNorm):
        return [
            TorchStyleBatchNorm(axis=-1, momentum=1.0 - layer.momentum, epsilon=layer.eps, **kw)
        ]
    if isinstance(layer, S.ReLU):
        return [keras.layers.ReLU(**kw)]
    if isinstance(layer, S.LeakyReLU):
        cls = float64_ops.LeakyReLU64 if dtype == "float64" else keras.layers.LeakyReLU
        return [cls(negative_slope=layer.negative_slope, **kw)]
    if isinstance(layer, S.Sigmoid):
        return [keras.layers.Activation("sigmoid", **kw)]
    if isinstance(layer, S.Tanh):
        return [keras.layers.Activation("tanh", **kw)]
    if isinstance(layer, S.Dropout):
        return [MaskedDropout(layer.p, **kw)]
    if isinstance(layer, S.Flatten):
        if len(shape) == 1:
            return [keras.layers.Identity(**kw)]
        if i in plan.fast_flatten:
            return [keras.layers.Flatten(**kw)]
        return [keras.layers.Permute((3, 1, 2), **kw), keras.layers.Flatten(**kw)]
    if isinstance(layer, S.Unflatten):
        c, h, w = layer.shape
        if i in plan.fast_unflatten:
            return [keras.layers.Reshape((h, w, c), **kw)]
        return [keras.layers.Reshape((c, h, w), **kw), keras.layers.Permute((2, 3, 1), **kw)]
    if isinstance(layer, S.MaxPool2d):
        pad = [ConstantPadding2D(layer.padding, float("-inf"), **kw)] if layer.padding else []
        return [
            *pad,
            keras.layers.MaxPooling2D(layer.kernel, layer.effective_stride, padding="valid", **kw),
        ]
    if isinstance(layer, S.AvgPool2d):
        pad = [keras.layers.ZeroPadding2D(layer.padding, **kw)] if layer.padding else []
        return [
            *pad,
            keras.layers.AveragePooling2D(
                layer.kernel, layer.effective_stride, padding="valid", **kw
            ),
        ]
    if isinstance(layer, S.GlobalAvgPool):
        # an average pool over the whole H x W exports as AveragePool (portable), where
        # GlobalAveragePooling2D becomes an opset-18 ReduceMean that onnx2torch cannot take
        return [
            keras.layers.AveragePooling2D((shape[1], shape[2]), **kw),
            keras.layers.Flatten(**kw),
        ]
    if isinstance(layer, S.Identity):
        return [keras.layers.Identity(**kw)]
    if isinstance(layer, S.Upsample):
        if dtype == "float64" and layer.mode == "bilinear":  # Keras' kernel is float32
            return [float64_ops.BilinearUpSampling64(layer.scale, **kw)]
        return [keras.layers.UpSampling2D(layer.scale, interpolation=layer.mode, **kw)]
    if isinstance(layer, S.Add):
        return [keras.layers.Add(**kw)]
    if isinstance(layer, S.Concat):
        axis = NHWC_AXIS[layer.axis] if len(shape) == 3 else layer.axis
        return [keras.layers.Concatenate(axis=axis, **kw)]
    raise TypeError(f"tensorflow backend cannot build layer {layer!r}")


def build_network(network: S.Network, dtype: str = "float32") -> KerasBuilt:
    """Build ``network`` in ``dtype`` (float32 or float64: every layer's dtype policy, the
    global ``floatx`` untouched) as a Keras functional model taking NHWC input. Chains get
    the layout plan (NHWC flatten straight into a permuted Dense); graphs transpose
    explicitly around Flatten/Unflatten."""
    plan = layout.plan_layout(network) if network.is_chain else layout.LayoutPlan()
    inp = keras.Input(shape=_nhwc(network.input_shape), dtype=dtype)
    outs: list[Any] = []
    holders: dict[int, keras.layers.Layer] = {}
    dropouts: dict[int, MaskedDropout] = {}
    for i, info in enumerate(network.infos):
        made = _layers(i, info, plan, dtype)
        args = [inp if s == -1 else outs[s] for s in info.inputs]
        h = made[0](args if info.layer.merge else args[0])
        for k in made[1:]:
            h = k(h)
        outs.append(h)
        for k in made:
            if k.__class__ in (
                keras.layers.Dense,
                keras.layers.Conv2D,
                keras.layers.Conv2DTranspose,
                TorchStyleBatchNorm,
            ):
                holders[i] = k
            if isinstance(k, MaskedDropout):
                dropouts[i] = k
    model = keras.Model(inp, outs[network.output], name=f"{network.name}")
    return KerasBuilt(network, model, plan, holders, dropouts=dropouts, dtype=dtype)


def set_weights(built: KerasBuilt, weights: dict[str, np.ndarray]) -> None:
    """Load canonical tensors (all of the network, or any subset such as only the BatchNorm
    statistics), converting layouts; values are moved, never recomputed."""
    name, plan = built.network.name, built.plan
    for i, holder in built.holders.items():
        layer, key = built.network.infos[i].layer, built.network.infos[i].key
        given = {
            k.rsplit(".", 1)[1]: np.asarray(v, built.dtype)
            for k, v in weights.items()
            if k.startswith(f"{name}.{key}.")
        }
        if not given:
            continue
        p_in, p_out = plan.in_perm.get(i), plan.out_perm.get(i)
        if isinstance(layer, S.Dense):
            if "weight" in given:
                holder.kernel.assign(layout.to_keras_dense(given["weight"], None, p_in, p_out)[0])
            if "bias" in given:
                holder.bias.assign(layout.permute_vector(given["bias"], p_out))
        elif isinstance(layer, S.Conv2d | S.ConvTranspose2d):
            if "weight" in given:
                holder.kernel.assign(np.ascontiguousarray(given["weight"].transpose(2, 3, 1, 0)))
            if "bias" in given:
                holder.bias.assign(given["bias"])
        elif isinstance(layer, S.BatchNorm):
            targets = {
                "weight": holder.gamma,
                "bias": holder.beta,
                "running_mean": holder.moving_mean,
                "running_var": holder.moving_variance,
            }
            for key, value in given.items():
                targets[key].assign(layout.permute_vector(value, p_in))


def get_weights(built: KerasBuilt) -> dict[str, np.ndarray]:
    """Canonical tensors back from Keras (the exact inverse of `set_weights`)."""
    name, plan, out = built.network.name, built.plan, {}
    for i, holder in built.holders.items():
        layer, key = built.network.infos[i].layer, f"{name}.{built.network.infos[i].key}."
        if isinstance(layer, S.Dense):
            w, b = layout.from_keras_dense(
                np.asarray(holder.kernel.numpy()),
                holder.bias.numpy() if layer.bias else None,
                plan.in_perm.get(i),
                plan.out_perm.get(i),
            )
            out[key + "weight"] = w
            if b is not None:
                out[key + "bias"] = b
        elif isinstance(layer, S.Conv2d | S.ConvTranspose2d):
            out[key + "weight"] = np.ascontiguousarray(holder.kernel.numpy().transpose(3, 2, 0, 1))
            if layer.bias:
                out[key + "bias"] = holder.bias.numpy().copy()
        elif isinstance(layer, S.BatchNorm):
            p = plan.in_perm.get(i)
            out[key + "weight"] = layout.unpermute_vector(holder.gamma.numpy(), p)
            out[key + "bias"] = layout.unpermute_vector(holder.beta.numpy(), p)
            out[key + "running_mean"] = layout.unpermute_vector(holder.moving_mean.numpy(), p)
            out[key + "running_var"] = layout.unpermute_vector(holder.moving_variance.numpy(), p)
    return out


def to_native_input(x: np.ndarray) -> np.ndarray:
    """NCHW -> NHWC (flat inputs unchanged)."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if x.ndim == 4 else x


def to_canonical_output(y: np.ndarray) -> np.ndarray:
    """NHWC -> NCHW (flat outputs unchanged)."""
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2)) if y.ndim == 4 else y


def forward(built: KerasBuilt, x: np.ndarray, training: bool = False) -> np.ndarray:
    """Run on NCHW numpy; training=True uses batch statistics and updates moving ones."""
    key = (training, any(d.exact for d in built.dropouts.values()))
    fn = built.compiled.get(key)
    if fn is None:
        model = built.native
        fn = tf.function(lambda t: model(t, training=training), reduce_retracing=True)
        built.compiled[key] = fn
    y = fn(to_native_input(np.asarray(x, built.dtype)))
    return to_canonical_output(np.asarray(y))


def set_dropout_masks(built: KerasBuilt, masks: dict[int, np.ndarray] | None) -> None:
    """Exact Dropout: canonical masks (layer index -> (N, *input shape), NCHW and canonical
    feature order) moved to Keras's layout (NHWC, the plan's feature permutation) and
    assigned; ``None`` turns exact Dropout off (Keras's own RNG again)."""
    for i, layer in built.dropouts.items():
        m = None if masks is None else masks.get(i)
        if m is None:
            object.__setattr__(layer, "exact", False)
            continue
        m = np.asarray(m, built.dtype)
        if m.ndim == 4:
            m = m.transpose(0, 2, 3, 1)
        elif (perm := built.plan.in_perm.get(i)) is not None:
            m = m[:, perm]
        layer.mask_var.assign(np.ascontiguousarray(m))
        object.__setattr__(layer, "exact", True)


def count_params(built: KerasBuilt) -> int:
    """Trainable parameters as Keras counts them."""
    return int(sum(np.prod(v.shape) for v in built.native.trainable_weights))
