"""MobileNetV2 (Sandler et al. 2018) in the zoo: inverted residual blocks of a 1x1 expansion,
a 3x3 depthwise convolution (``groups`` = channels: each engine's own depthwise kernel) and
a linear 1x1 projection, BatchNorm and ReLU6, with the residual addition where shapes allow.

Small images keep the first stride-2 stages at stride 1 (the CIFAR variant: 28x28 and 32x32
inputs end at 4x4 and 4x4, not 1x1). Channel counts scale with ``width`` and round to
multiples of 8, as torchvision's ``_make_divisible``.
"""

from __future__ import annotations

from triptych.common import spec as S
from triptych.common.recipe import Optimizer, Recipe
from triptych.common.zoo_registry import register

#: (expansion t, output channels c, repeats n, first stride s) per stage, the paper's table 2;
#: the second stage's stride is 1 here (small inputs)
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip


def make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to a multiple of ``divisor``, never below 90 % of it
    (torchvision's rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_bn(x: S.Tensor, channels: int, kernel: int, stride: int, prefix: str,
            groups: int = 1, act: bool = True) -> S.Tensor:  # fmt: skip
    """Bias-free convolution (``(kernel - 1) // 2`` padding), BatchNorm, ReLU6 if ``act``."""
    h = S.Conv2d(channels, kernel, stride, (kernel - 1) // 2, bias=False, groups=groups,
                 name=f"{prefix}_conv")(x)  # fmt: skip
    h = S.BatchNorm(name=f"{prefix}_bn")(h)
    return S.ReLU6()(h) if act else h


def inverted_residual(x: S.Tensor, out: int, stride: int, expand: int, prefix: str,
                      depthwise: str = "conv") -> S.Tensor:  # fmt: skip
    """1x1 expansion to ``expand``·in channels (skipped when ``expand`` is 1), 3x3 depthwise
    at ``stride``, linear 1x1 projection to ``out``; plus the input when the shape is kept.
    ``depthwise="skip"`` (a benchmark's ablation) leaves the depthwise stage out: a strided
    1x1 average pool keeps the shapes."""
    hidden = x.shape[0] * expand
    h = conv_bn(x, hidden, 1, 1, f"{prefix}_expand") if expand != 1 else x
    if depthwise == "skip":
        h = S.AvgPool2d(1, stride)(h) if stride != 1 else h
    else:
        h = conv_bn(h, hidden, 3, stride, f"{prefix}_dw", groups=hidden)
    h = conv_bn(h, out, 1, 1, f"{prefix}_project", act=False)
    return S.Add()([x, h]) if stride == 1 and x.shape[0] == out else h


@register(
    "mobilenet_v2",
    "MobileNetV2: inverted residuals with depthwise convolutions and ReLU6, ~2.2M params",
    Recipe(kind="supervised", optimizer=Optimizer("adam", 1e-3), steps=300, quick_steps=20),
)
def mobilenet_v2(
    image_shape: tuple[int, int, int] = (1, 28, 28),
    num_classes: int = 10,
    width: float = 1.0,
    dropout: float = 0.2,
    depthwise: str = "conv",
) -> S.ModelSpec:
    """Stem conv 3x3 (stride 1) to 32·``width`` channels, the seven stages of `SETTINGS`,
    a 1x1 conv to 1280·max(1, ``width``), global average pool, Dropout(``dropout``) and
    Dense(``num_classes``). At (1, 28, 28), width 1: 2.24M parameters. ``depthwise``:
    "conv", or "skip" to measure what the depthwise convolutions cost (the scale benchmark's
    ablation; not a model to train)."""
    if depthwise not in ("conv", "skip"):
        raise ValueError(f"mobilenet_v2: depthwise {depthwise!r}; allowed: conv, skip")
    if width <= 0 or num_classes < 2:
        raise ValueError(f"mobilenet_v2: width must be > 0 and num_classes >= 2, got "
                         f"{width}, {num_classes}")  # fmt: skip
    x = S.Input(image_shape)
    h = conv_bn(x, make_divisible(32 * width), 3, 1, "stem")
    for stage, (t, c, n, s) in enumerate(SETTINGS, start=1):
        for i in range(n):
            stride = s if i == 0 else 1
            h = inverted_residual(
                h, make_divisible(c * width), stride, t, f"block{stage}_{i}", depthwise
            )
    h = conv_bn(h, make_divisible(1280 * max(1.0, width)), 1, 1, "last")
    h = S.GlobalAvgPool()(h)
    if dropout:
        h = S.Dropout(dropout)(h)
    logits = S.Dense(num_classes, name="classifier")(h)
    # He initialisation: the default (PyTorch's U(±1/√fan_in)) shrinks the signal ~3x per
    # layer, and 52 layers without normalising statistics leave 1e-8 at the logits
    net = S.Network("net", inputs=x, outputs=logits, init="kaiming")
    return S.ModelSpec("mobilenet_v2", {"net": net}, main="net",
                       options={"num_classes": num_classes, "width": width,
                                "depthwise": depthwise})  # fmt: skip
