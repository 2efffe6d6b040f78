"""The layer vocabulary of triptych specs (`triptych.common.spec` states the counting rules).

Each layer states only what it outputs; shape inference gives its inputs. Shapes exclude the
batch axis and are NCHW.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

Shape = tuple[int, ...]
#: a layer's ``name=``: the prefix of its canonical weight names (``stem.weight``)
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SpecError(ValueError):
    """An invalid spec: names the network, the layer, its index and the shapes involved."""


@dataclass(frozen=True)
class Layer:
    """Base class of the layer vocabulary. Subclasses are frozen dataclasses.

    ``name`` (keyword-only, optional) becomes the prefix of the layer's canonical weight
    names inside its network (``<network>.<name>.weight``); without it the prefix is the
    layer's position in the network (``<network>.3.weight``). Calling a layer on symbolic
    tensors (``layer(x)``, ``Add()([a, b])``) builds a graph; see `triptych.common.spec`.
    """

    name: str | None = field(default=None, kw_only=True)
    kind: ClassVar[str] = "layer"
    #: element-wise per feature: keeps shape and feature order (used by the Keras layout planner)
    featurewise: ClassVar[bool] = False
    #: takes several inputs (Add, Concat)
    merge: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.name is not None and (not NAME_PATTERN.fullmatch(self.name) or self.name.isdigit()):
            raise SpecError(
                f"{self.kind}: name {self.name!r} must be an identifier (letters, digits, _; "
                "not starting with a digit): it prefixes the layer's weight names"
            )

    def __call__(self, inputs: Tensor | list[Tensor] | tuple[Tensor, ...]) -> Tensor:
        """Apply this layer to symbolic tensors (the functional form); shape inference runs
        now, so a wrong graph fails here, naming the layer and its inputs' shapes."""
        items = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
        if not all(isinstance(t, Tensor) for t in items):
            raise SpecError(f"{self.describe()}: call it on S.Input(...) tensors, got {inputs!r}")
        if self.merge and (not isinstance(inputs, list | tuple) or len(items) < 2):
            raise SpecError(f"{self.describe()} takes a list of two or more tensors")
        if not self.merge and len(items) != 1:
            raise SpecError(f"{self.describe()} takes one tensor, got {len(items)}")
        shapes = [t.shape for t in items]
        try:
            out = self.merge_shape(shapes) if self.merge else self.output_shape(shapes[0])
        except SpecError as e:
            raise SpecError(f"{self.describe()}, input shapes {shapes}: {e}") from None
        return Tensor(Node(self, tuple(t.node for t in items), out))

    def describe(self) -> str:
        return f"{self.kind} {self.name!r}" if self.name else self.kind

    def merge_shape(self, shapes: list[Shape]) -> Shape:
        raise SpecError(f"{self.kind} takes one input")

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
        if d.get("name") is None:
            d.pop("name", None)  # keeps unnamed layers' JSON (and spec hashes) as they were
        return d


class Node:
    """One application of a layer in a graph: the layer, its input nodes, its output shape.
    The network input is a node with ``layer`` None. Identity-compared (two ``ReLU()`` are
    equal layers but different nodes)."""

    __slots__ = ("inputs", "layer", "shape")

    def __init__(self, layer: Layer | None, inputs: tuple[Node, ...], shape: Shape) -> None:
        self.layer, self.inputs, self.shape = layer, inputs, tuple(int(s) for s in shape)


class Tensor:
    """A symbolic tensor (shape without the batch axis) in the functional form."""

    __slots__ = ("node",)

    def __init__(self, node: Node) -> None:
        self.node = node

    @property
    def shape(self) -> Shape:
        return self.node.shape

    def __repr__(self) -> str:
        return f"Tensor(shape={self.shape}, from={self.node.layer!r})"


def Input(shape: Shape) -> Tensor:
    """The symbolic input of a network: ``shape`` is (F,) or (C, H, W), batch excluded."""
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (1, 3) or any(s <= 0 for s in shape):
        raise SpecError(f"Input shape must be (F,) or (C, H, W) of positive sizes, got {shape}")
    return Tensor(Node(None, (), shape))


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
        super().__post_init__()
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
class _Pool2d(Layer):
    """Square window; stride defaults to the kernel size; symmetric explicit padding
    (at most half the kernel, as in PyTorch)."""

    kernel: int = 2
    stride: int | None = None
    padding: int = 0

    @property
    def effective_stride(self) -> int:
        return self.stride or self.kernel

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        c, h, w = shape
        if not 0 <= 2 * self.padding <= self.kernel:
            raise SpecError(
                f"{self.kind} padding {self.padding} must be between 0 and kernel/2 "
                f"(kernel {self.kernel})"
            )
        if self.kernel > h + 2 * self.padding or self.kernel > w + 2 * self.padding:
            raise SpecError(
                f"{self.kind} kernel {self.kernel} is larger than its input "
                f"{h}x{w} (input shape {shape}, padding {self.padding})"
            )
        s, p = self.effective_stride, self.padding
        return (c, _conv_out(h, self.kernel, s, p), _conv_out(w, self.kernel, s, p))

    def flops(self, shape: Shape) -> int:
        return numel(self.output_shape(shape)) * self.kernel * self.kernel


@dataclass(frozen=True)
class MaxPool2d(_Pool2d):
    """Max pooling; padding counts as -inf (PyTorch's rule)."""

    kind: ClassVar[str] = "maxpool2d"

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if not self.padding:
            d.pop("padding")  # unpadded pools keep their JSON (and spec hashes) as they were
        return d


@dataclass(frozen=True)
class AvgPool2d(_Pool2d):
    """Average pooling; zero padding counts in the average (PyTorch's default,
    ``count_include_pad=True``)."""

    kind: ClassVar[str] = "avgpool2d"


@dataclass(frozen=True)
class GlobalAvgPool(Layer):
    """(C, H, W) -> (C,): the mean over H and W."""

    kind: ClassVar[str] = "global_avgpool"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        return (shape[0],)

    def flops(self, shape: Shape) -> int:
        return numel(shape)


@dataclass(frozen=True)
class Identity(Layer):
    """Returns its input (a named tap point, or what an imported Dropout/Identity becomes)."""

    kind: ClassVar[str] = "identity"
    featurewise: ClassVar[bool] = True


@dataclass(frozen=True)
class Upsample(Layer):
    """(C, H, W) -> (C, H·scale, W·scale); ``mode`` nearest (default) or bilinear
    (half-pixel centres, PyTorch's ``align_corners=False``). FLOPs: 0 nearest, 8 per output
    element bilinear (4 multiply-adds)."""

    scale: int = 2
    mode: str = "nearest"
    kind: ClassVar[str] = "upsample"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        if self.mode not in ("nearest", "bilinear"):
            raise SpecError(f"upsample mode {self.mode!r}; allowed: nearest, bilinear")
        if int(self.scale) != self.scale or self.scale < 1:
            raise SpecError(f"upsample scale must be an integer >= 1, got {self.scale}")
        c, h, w = shape
        return (c, h * self.scale, w * self.scale)

    def flops(self, shape: Shape) -> int:
        return 0 if self.mode == "nearest" else 8 * numel(self.output_shape(shape))


@dataclass(frozen=True)
class Add(Layer):
    """Elementwise sum of two or more tensors of the same shape (a residual connection).
    FLOPs: (n - 1) per element."""

    kind: ClassVar[str] = "add"
    merge: ClassVar[bool] = True

    def merge_shape(self, shapes: list[Shape]) -> Shape:
        if any(s != shapes[0] for s in shapes):
            raise SpecError(f"add needs inputs of one shape, got {shapes}")
        return shapes[0]

    def flops_multi(self, shapes: list[Shape]) -> int:
        return (len(shapes) - 1) * numel(shapes[0])


@dataclass(frozen=True)
class Concat(Layer):
    """Concatenation along ``axis`` of the per-sample NCHW shape plus batch: 1 = channels
    (default), 2 = H, 3 = W; every other axis must agree."""

    axis: int = 1
    kind: ClassVar[str] = "concat"
    merge: ClassVar[bool] = True

    def merge_shape(self, shapes: list[Shape]) -> Shape:
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes) or not 1 <= self.axis <= rank:
            raise SpecError(f"concat axis {self.axis} on inputs {shapes}: ranks or axis invalid")
        a = self.axis - 1
        rest = [s[:a] + s[a + 1 :] for s in shapes]
        if any(r != rest[0] for r in rest):
            raise SpecError(
                f"concat along axis {self.axis} needs the other dims equal, got {shapes}"
            )
        return (*shapes[0][:a], sum(s[a] for s in shapes), *shapes[0][a + 1 :])

    def flops_multi(self, shapes: list[Shape]) -> int:
        return 0


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
        AvgPool2d,
        GlobalAvgPool,
        Identity,
        Upsample,
        Add,
        Concat,
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
