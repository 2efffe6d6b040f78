"""The layer vocabulary of triptych specs (`triptych.common.spec` states the counting rules).

Each layer states only what it outputs; shape inference gives its inputs. Shapes exclude the
batch axis and are NCHW.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

Shape = tuple[int, ...]


class SpecError(ValueError):
    """An invalid spec: names the network, the layer, its index and the shapes involved."""


@dataclass(frozen=True)
class Layer:
    """Base class of the layer vocabulary. Subclasses are frozen dataclasses."""

    kind: ClassVar[str] = "layer"
    #: element-wise per feature: keeps shape and feature order (used by the Keras layout planner)
    featurewise: ClassVar[bool] = False

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        """Canonical (PyTorch layout) trainable parameter shapes for this input shape."""
        return {}

    def buffer_shapes(self, shape: Shape) -> dict[str, Shape]:
        """Non-trainable state (BatchNorm running statistics)."""
        return {}

    def flops(self, shape: Shape) -> int:
        return 0

    def to_dict(self) -> dict[str, Any]:
        d = {"kind": self.kind}
        d.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()})
        return d


def numel(shape: Shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _need_rank(layer: Layer, shape: Shape, ranks: tuple[int, ...], hint: str = "") -> None:
    if len(shape) not in ranks:
        want = " or ".join(f"{r}-D" for r in ranks)
        raise SpecError(
            f"{layer.kind} needs a {want} input (batch excluded), got shape {shape}{hint}"
        )


@dataclass(frozen=True)
class Dense(Layer):
    """Fully connected layer: y = x Wᵀ + b. Canonical weight (out, in). Needs a flat input."""

    units: int
    bias: bool = True
    kind: ClassVar[str] = "dense"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (1,), "; add Flatten() before Dense")
        return (self.units,)

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        p = {"weight": (self.units, shape[0])}
        if self.bias:
            p["bias"] = (self.units,)
        return p

    def flops(self, shape: Shape) -> int:
        return 2 * shape[0] * self.units + (self.units if self.bias else 0)


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class Conv2d(Layer):
    """2-D convolution, square kernel, symmetric explicit zero padding. Weight OIHW."""

    out_channels: int
    kernel: int = 3
    stride: int = 1
    padding: int = 0
    bias: bool = True
    kind: ClassVar[str] = "conv2d"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        _, h, w = shape
        if self.kernel > h + 2 * self.padding or self.kernel > w + 2 * self.padding:
            raise SpecError(
                f"conv2d kernel {self.kernel} is larger than its padded input "
                f"{h + 2 * self.padding}x{w + 2 * self.padding} (input shape {shape},"
                f" padding {self.padding})"
            )
        return (
            self.out_channels,
            _conv_out(h, self.kernel, self.stride, self.padding),
            _conv_out(w, self.kernel, self.stride, self.padding),
        )

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        p = {"weight": (self.out_channels, shape[0], self.kernel, self.kernel)}
        if self.bias:
            p["bias"] = (self.out_channels,)
        return p

    def flops(self, shape: Shape) -> int:
        c_out, h_out, w_out = self.output_shape(shape)
        macs = shape[0] * self.kernel * self.kernel * c_out * h_out * w_out
        return 2 * macs + (c_out * h_out * w_out if self.bias else 0)


@dataclass(frozen=True)
class ConvTranspose2d(Layer):
    """Transposed 2-D convolution (output_padding 0). Weight IOHW (PyTorch layout).

    Output size (H-1)·stride - 2·padding + kernel; k=4, s=2, p=1 doubles H and W.
    """

    out_channels: int
    kernel: int = 4
    stride: int = 2
    padding: int = 1
    bias: bool = True
    kind: ClassVar[str] = "conv_transpose2d"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        _, h, w = shape
        if 2 * self.padding >= self.kernel:
            raise SpecError(
                f"conv_transpose2d padding {self.padding} must be < kernel/2 (kernel {self.kernel})"
            )
        return (
            self.out_channels,
            (h - 1) * self.stride - 2 * self.padding + self.kernel,
            (w - 1) * self.stride - 2 * self.padding + self.kernel,
        )

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        p = {"weight": (shape[0], self.out_channels, self.kernel, self.kernel)}
        if self.bias:
            p["bias"] = (self.out_channels,)
        return p

    def flops(self, shape: Shape) -> int:
        c_out, h_out, w_out = self.output_shape(shape)
        macs = shape[0] * shape[1] * shape[2] * self.kernel * self.kernel * c_out
        return 2 * macs + (c_out * h_out * w_out if self.bias else 0)


@dataclass(frozen=True)
class BatchNorm(Layer):
    """Batch normalisation over the channel axis (1-D on (F,), 2-D on (C, H, W)).

    eps and momentum use PyTorch's convention (running = (1-momentum)·running +
    momentum·batch). Defaults: eps 1e-5, momentum 0.1.
    """

    eps: float = 1e-5
    momentum: float = 0.1
    kind: ClassVar[str] = "batchnorm"
    featurewise: ClassVar[bool] = True

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (1, 3))
        return shape

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        return {"weight": (shape[0],), "bias": (shape[0],)}

    def buffer_shapes(self, shape: Shape) -> dict[str, Shape]:
        return {"running_mean": (shape[0],), "running_var": (shape[0],)}

    def flops(self, shape: Shape) -> int:
        return 2 * numel(shape)


def BatchNorm1d(eps: float = 1e-5, momentum: float = 0.1) -> BatchNorm:
    """Alias of `BatchNorm` for readers coming from PyTorch (rank is inferred)."""
    return BatchNorm(eps=eps, momentum=momentum)


BatchNorm2d = BatchNorm1d


@dataclass(frozen=True)
class _Activation(Layer):
    featurewise: ClassVar[bool] = True

    def flops(self, shape: Shape) -> int:
        return numel(shape)


@dataclass(frozen=True)
class ReLU(_Activation):
    kind: ClassVar[str] = "relu"


@dataclass(frozen=True)
class LeakyReLU(_Activation):
    """max(x, negative_slope·x); default slope 0.01 as in PyTorch (DCGAN uses 0.2)."""

    negative_slope: float = 0.01
    kind: ClassVar[str] = "leaky_relu"


@dataclass(frozen=True)
class Sigmoid(_Activation):
    kind: ClassVar[str] = "sigmoid"


@dataclass(frozen=True)
class Tanh(_Activation):
    kind: ClassVar[str] = "tanh"


@dataclass(frozen=True)
class Dropout(Layer):
    """Zeroes elements with probability p in training (scaling the rest by 1/(1-p)).

    With exact Dropout (`Model.fit`'s default, and always in training parity) the masks come
    from the common seeded stream per (seed, step, network, layer) (`common/dropout.py`), so
    every framework applies the same one; otherwise each framework's own RNG draws them.
    Eval mode is the identity everywhere.
    """

    p: float = 0.5
    kind: ClassVar[str] = "dropout"
    featurewise: ClassVar[bool] = True

    def output_shape(self, shape: Shape) -> Shape:
        if not 0.0 <= self.p < 1.0:
            raise SpecError(f"dropout p must be in [0, 1), got {self.p}")
        return shape


@dataclass(frozen=True)
class Flatten(Layer):
    """(C, H, W) -> (C·H·W,) in C, H, W order (PyTorch's order, on every framework)."""

    kind: ClassVar[str] = "flatten"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (1, 3))
        return (numel(shape),)


@dataclass(frozen=True)
class Unflatten(Layer):
    """(F,) -> shape, with shape = (C, H, W) and F = C·H·W."""

    shape: tuple[int, int, int]
    kind: ClassVar[str] = "unflatten"

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (1,))
        if len(self.shape) != 3:
            raise SpecError(f"unflatten target must be (C, H, W), got {self.shape}")
        if numel(self.shape) != shape[0]:
            raise SpecError(
                f"unflatten to {self.shape} needs {numel(self.shape)} features, "
                f"input has {shape[0]} (input shape {shape})"
            )
        return self.shape


@dataclass(frozen=True)
class MaxPool2d(Layer):
    """Max pooling, square window, no padding; stride defaults to the kernel size."""

    kernel: int = 2
    stride: int | None = None
    kind: ClassVar[str] = "maxpool2d"

    @property
    def effective_stride(self) -> int:
        return self.stride or self.kernel

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        c, h, w = shape
        if self.kernel > h or self.kernel > w:
            raise SpecError(
                f"maxpool2d kernel {self.kernel} is larger than its input "
                f"{h}x{w} (input shape {shape})"
            )
        s = self.effective_stride
        return (c, _conv_out(h, self.kernel, s, 0), _conv_out(w, self.kernel, s, 0))

    def flops(self, shape: Shape) -> int:
        return numel(self.output_shape(shape)) * self.kernel * self.kernel


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls
    for cls in (
        Dense,
        Conv2d,
        ConvTranspose2d,
        BatchNorm,
        ReLU,
        LeakyReLU,
        Sigmoid,
        Tanh,
        Dropout,
        Flatten,
        Unflatten,
        MaxPool2d,
    )
}


def layer_from_dict(d: dict[str, Any]) -> Layer:
    """Inverse of `Layer.to_dict`; unknown kinds or arguments raise `SpecError`."""
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in LAYER_TYPES:
        raise SpecError(f"unknown layer kind {kind!r}; known: {', '.join(sorted(LAYER_TYPES))}")
    cls = LAYER_TYPES[kind]
    allowed = {f.name for f in fields(cls)}
    unknown = set(d) - allowed
    if unknown:
        raise SpecError(f"{kind}: unknown arguments {sorted(unknown)}; allowed {sorted(allowed)}")
    if "shape" in d:
        d["shape"] = tuple(d["shape"])
    return cls(**d)
