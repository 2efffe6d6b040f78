"""Element-wise activations (and gates): FLOPs 1 per element, except where noted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from triptych.common.layers.base import Layer, Shape, SpecError, _check, numel, vocabulary


@dataclass(frozen=True)
class _Activation(Layer):
    featurewise: ClassVar[bool] = True

    def flops(self, shape: Shape) -> int:
        return numel(shape)


@vocabulary
@dataclass(frozen=True)
class ReLU(_Activation):
    kind: ClassVar[str] = "relu"


@vocabulary
@dataclass(frozen=True)
class LeakyReLU(_Activation):
    """max(x, 0) + negative_slope · min(x, 0)."""

    negative_slope: float = 0.01
    kind: ClassVar[str] = "leaky_relu"


@vocabulary
@dataclass(frozen=True)
class Sigmoid(_Activation):
    kind: ClassVar[str] = "sigmoid"


@vocabulary
@dataclass(frozen=True)
class Tanh(_Activation):
    kind: ClassVar[str] = "tanh"


@vocabulary
@dataclass(frozen=True)
class Clip(_Activation):
    """min(max(x, low), high) (ONNX Clip; ReLU6 is Clip(0, 6))."""

    low: float = 0.0
    high: float = 6.0
    kind: ClassVar[str] = "clip"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.low <= self.high, f"clip low {self.low} must be <= high {self.high}")


def ReLU6() -> Clip:
    """min(max(x, 0), 6): MobileNet's activation."""
    return Clip(0.0, 6.0)


@vocabulary
@dataclass(frozen=True)
class HardSigmoid(_Activation):
    """max(0, min(1, alpha · x + beta)); the default is PyTorch's ``relu6(x + 3) / 6``
    (ONNX's own default is alpha 0.2)."""

    alpha: float = 1.0 / 6.0
    beta: float = 0.5
    kind: ClassVar[str] = "hard_sigmoid"


@vocabulary
@dataclass(frozen=True)
class HardSwish(_Activation):
    """x · relu6(x + 3) / 6 (MobileNetV3)."""

    kind: ClassVar[str] = "hard_swish"


@vocabulary
@dataclass(frozen=True)
class SiLU(_Activation):
    """x · sigmoid(x) (Swish; EfficientNet)."""

    kind: ClassVar[str] = "silu"


@vocabulary
@dataclass(frozen=True)
class GELU(_Activation):
    """x · Φ(x) (``approximate="none"``, the exact erf form) or its tanh approximation
    (``approximate="tanh"``)."""

    approximate: str = "none"
    kind: ClassVar[str] = "gelu"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(
            self.approximate in ("none", "tanh"),
            f"gelu approximate {self.approximate!r}: allowed 'none', 'tanh'",
        )


@vocabulary
@dataclass(frozen=True)
class ELU(_Activation):
    """x for x > 0, alpha · (exp(x) - 1) otherwise."""

    alpha: float = 1.0
    kind: ClassVar[str] = "elu"


@vocabulary
@dataclass(frozen=True)
class SELU(_Activation):
    """scale · ELU(x, alpha) with the self-normalising constants (alpha 1.6732632423543772,
    scale 1.0507009873554805, PyTorch's and ONNX's)."""

    kind: ClassVar[str] = "selu"


@vocabulary
@dataclass(frozen=True)
class Softplus(_Activation):
    """log(1 + exp(x))."""

    kind: ClassVar[str] = "softplus"


@vocabulary
@dataclass(frozen=True)
class Mish(_Activation):
    """x · tanh(softplus(x))."""

    kind: ClassVar[str] = "mish"


@vocabulary
@dataclass(frozen=True)
class PReLU(_Activation):
    """max(x, 0) + a · min(x, 0) with a learned slope ``weight``: one per channel (the
    input's first per-sample axis), or one for all with ``shared``. Initial slope 0.25."""

    shared: bool = False
    kind: ClassVar[str] = "prelu"
    featurewise: ClassVar[bool] = False  # its slopes are per channel: not layout-free

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        return {"weight": (1,) if self.shared else (shape[0],)}

    def initial_values(self, shape: Shape) -> dict[str, float] | None:
        return {"weight": 0.25}


@vocabulary
@dataclass(frozen=True)
class Softmax(Layer):
    """exp(x) / sum(exp(x)) along per-sample ``axis`` (default -1, the last: a classifier's
    probabilities, attention weights), computed stably (the max subtracted first)."""

    axis: int = -1
    kind: ClassVar[str] = "softmax"

    def output_shape(self, shape: Shape) -> Shape:
        if not -len(shape) <= self.axis < len(shape):
            raise SpecError(
                f"softmax axis {self.axis} out of range for a rank-{len(shape)} input {shape} "
                f"(allowed -{len(shape)} .. {len(shape) - 1}, batch excluded)"
            )
        return shape

    def resolved_axis(self, shape: Shape) -> int:
        """``axis`` as a non-negative per-sample axis of ``shape``."""
        return self.axis % len(shape)

    def flops(self, shape: Shape) -> int:
        return 3 * numel(shape)
