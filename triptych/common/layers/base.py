"""The base of the layer vocabulary: `Layer`, the functional form's `Node`/`Tensor`/`Input`,
`SpecError`, and the registry of layer kinds (`vocabulary`, `LAYER_TYPES`).

Each layer states only what it outputs; shape inference gives its inputs. Shapes exclude the
batch axis and are NCHW. Every concrete layer class is registered with ``@vocabulary`` in the
module of its family (``dense``, ``conv``, ``norm``, ...); each backend converts it in the
module of the same name under ``frameworks/<fw>/layers/``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, TypeVar

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
    #: takes several inputs (Add, Concat), at least ``min_inputs`` of them
    merge: ClassVar[bool] = False
    min_inputs: ClassVar[int] = 2
    #: the vocabulary module it is defined in, and the backends' converter module's name
    family: ClassVar[str] = ""
    #: reads the network's int64 token ids (`Embedding`); every other layer reads floats
    takes_ids: ClassVar[bool] = False
    #: fields left out of `to_dict` while they hold their default: arguments added after
    #: specs were first saved, so those specs keep their JSON and their hashes
    omit_default: ClassVar[tuple[str, ...]] = ()

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
        if self.merge and (not isinstance(inputs, list | tuple) or len(items) < self.min_inputs):
            least = "one" if self.min_inputs == 1 else "two"
            raise SpecError(f"{self.describe()} takes a list of {least} or more tensors")
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

    def initial_values(self, shape: Shape) -> dict[str, float] | None:
        """Constant initial values of this layer's tensors (e.g. a norm's scale 1, shift 0),
        or None for the init scheme's random draw (`triptych.common.init`)."""
        return None

    def initial_draws(self, shape: Shape) -> dict[str, tuple[str, float]] | None:
        """How each tensor is drawn whatever the init scheme: ("normal", std), ("uniform",
        bound) or ("constant", value) per name (attention and embeddings, whose
        initialisation is part of the architecture); None: the scheme decides."""
        return None

    def to_dict(self) -> dict[str, Any]:
        d = {"kind": self.kind}
        d.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()})
        if d.get("name") is None:
            d.pop("name", None)  # keeps unnamed layers' JSON (and spec hashes) as they were
        for f in fields(self):
            if f.name in self.omit_default and getattr(self, f.name) == f.default:
                d.pop(f.name, None)
        return d


class Node:
    """One application of a layer in a graph: the layer, its input nodes, its output shape.
    The network input is a node with ``layer`` None. Identity-compared (two ``ReLU()`` are
    equal layers but different nodes)."""

    __slots__ = ("dtype", "inputs", "layer", "shape")

    def __init__(
        self, layer: Layer | None, inputs: tuple[Node, ...], shape: Shape, dtype: str = "float"
    ) -> None:
        self.layer, self.inputs, self.shape = layer, inputs, tuple(int(s) for s in shape)
        self.dtype = dtype  # the network input's: "float" or "int64" (token ids)


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


#: what a network input may hold: floats (in the build's precision) or int64 token ids
INPUT_DTYPES = ("float", "int64")


def check_input_dtype(dtype: str) -> str:
    if dtype not in INPUT_DTYPES:
        raise SpecError(f"input dtype {dtype!r}: allowed {', '.join(map(repr, INPUT_DTYPES))}")
    return dtype


def Input(shape: Shape, dtype: str = "float") -> Tensor:
    """The symbolic input of a network: ``shape`` is (F,) or (C, H, W), batch excluded;
    ``dtype`` "float" (default; the build's precision) or "int64" (token ids, shape (L,),
    read only by `Embedding` layers)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (1, 3) or any(s <= 0 for s in shape):
        raise SpecError(f"Input shape must be (F,) or (C, H, W) of positive sizes, got {shape}")
    return Tensor(Node(None, (), shape, check_input_dtype(dtype)))


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


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _check(ok: bool, message: str) -> None:
    """`SpecError` with ``message`` unless ``ok``."""
    if not ok:
        raise SpecError(message)


Pads = tuple[int, int, int, int]  # (top, left, bottom, right): ONNX's ``pads`` order


def kernel_hw(kernel: int | tuple[int, int]) -> tuple[int, int]:
    """(height, width) of a window given as an int (square) or a (height, width) pair."""
    return (kernel, kernel) if isinstance(kernel, int) else (int(kernel[0]), int(kernel[1]))


def resolve_pads(
    padding: int | Pads | str,
    kernel: int | tuple[int, int],
    stride: int,
    dilation: int,
    h: int,
    w: int,
) -> Pads:
    """Explicit (top, left, bottom, right) zero padding of a window op (``kernel`` an int or
    (height, width)): an int pads all sides; a 4-tuple as it is; ``"same"`` the output
    ceil(H / stride) with the odd pixel at the bottom/right (TensorFlow's and ONNX's
    SAME_UPPER); ``"valid"`` none."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        kh, kw = kernel_hw(kernel)
        span_h, span_w = (kh - 1) * dilation + 1, (kw - 1) * dilation + 1
        th = max((-(-h // stride) - 1) * stride + span_h - h, 0)
        tw = max((-(-w // stride) - 1) * stride + span_w - w, 0)
        return (th // 2, tw // 2, th - th // 2, tw - tw // 2)
    if isinstance(padding, int):
        return (padding,) * 4
    if (
        isinstance(padding, tuple)
        and len(padding) == 4
        and all(isinstance(p, int) and p >= 0 for p in padding)
    ):
        return padding  # type: ignore[return-value]
    raise SpecError(
        f"padding {padding!r}: allowed an int, (top, left, bottom, right) ints >= 0, "
        "'same' or 'valid'"
    )


def window_out(size: int, kernel: int, stride: int, before: int, after: int,
               dilation: int = 1, ceil: bool = False) -> int:  # fmt: skip
    """Output size of a window op along one axis (PyTorch's rule, ``ceil_mode`` included:
    the last window must start inside the input or its left padding)."""
    span = (kernel - 1) * dilation + 1
    room = size + before + after - span
    out = (-(-room // stride) if ceil else room // stride) + 1
    if ceil and (out - 1) * stride >= size + before:
        out -= 1
    return out


L = TypeVar("L", bound=type)

#: every layer kind of the vocabulary -> its class (filled by ``@vocabulary``)
LAYER_TYPES: dict[str, type[Layer]] = {}


def vocabulary(cls: L) -> L:
    """Class decorator: add a concrete layer class to the vocabulary under its ``kind``
    (the JSON name); its ``family`` is the module it is defined in."""
    if cls.kind in LAYER_TYPES:
        raise ValueError(f"layer kind {cls.kind!r} registered twice")
    cls.family = cls.__module__.rsplit(".", 1)[-1]
    LAYER_TYPES[cls.kind] = cls
    return cls


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
    d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}  # JSON lists
    try:
        return cls(**d)
    except SpecError as e:
        raise SpecError(f"{kind}: {e}") from None
