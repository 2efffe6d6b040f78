"""The zoo's graph models, at their real sizes: ResNet-18 (residual additions, 1x1
projection shortcuts) and a small U-Net (skip concatenations). Weight names follow
torchvision's layout with underscores (``layer1_0_conv1``, ``layer2_0_downsample_0``, ``fc``),
so a torchvision-style checkpoint maps onto them name by name.
"""

from __future__ import annotations

from triptych.common import spec as S
from triptych.common.recipe import Optimizer, Recipe
from triptych.common.zoo_registry import register

RESNET_STAGES = (64, 128, 256, 512)


def basic_block(x: S.Tensor, channels: int, stride: int, prefix: str) -> S.Tensor:
    """conv3x3-BN-ReLU-conv3x3-BN plus the shortcut (identity, or conv1x1-BN when the shape
    changes), then ReLU: He et al. 2016's basic block, bias-free convs."""
    h = S.Conv2d(channels, 3, stride, 1, bias=False, name=f"{prefix}_conv1")(x)
    h = S.ReLU()(S.BatchNorm(name=f"{prefix}_bn1")(h))
    h = S.Conv2d(channels, 3, 1, 1, bias=False, name=f"{prefix}_conv2")(h)
    h = S.BatchNorm(name=f"{prefix}_bn2")(h)
    shortcut = x
    if stride != 1 or x.shape[0] != channels:
        shortcut = S.Conv2d(channels, 1, stride, 0, bias=False, name=f"{prefix}_downsample_0")(x)
        shortcut = S.BatchNorm(name=f"{prefix}_downsample_1")(shortcut)
    return S.ReLU()(S.Add()([h, shortcut]))


@register(
    "resnet18",
    "ResNet-18 (CIFAR stem by default; stem='imagenet' for 7x7 + max-pool), ~11.2M params",
    Recipe(kind="supervised", optimizer=Optimizer("adam", 1e-3), steps=300, quick_steps=20),
)
def resnet18(
    image_shape: tuple[int, int, int] = (3, 32, 32),
    num_classes: int = 10,
    stem: str = "cifar",
    width: int = 64,
) -> S.ModelSpec:
    """Four stages of two basic blocks (``width``·1, 2, 4, 8 channels; stride 2 from the
    second stage), global average pool, Dense(``num_classes``). ``stem``: ``cifar`` (3x3
    conv, stride 1, no pool) or ``imagenet`` (7x7 conv stride 2 + 3x3 max-pool stride 2).
    At 3x32x32: 11.17M parameters, 0.56 G multiply-adds per image."""
    if stem not in ("cifar", "imagenet"):
        raise ValueError(f"resnet18: stem {stem!r}; allowed: cifar, imagenet")
    x = S.Input(image_shape)
    if stem == "cifar":
        h = S.Conv2d(width, 3, 1, 1, bias=False, name="conv1")(x)
        h = S.ReLU()(S.BatchNorm(name="bn1")(h))
    else:
        h = S.Conv2d(width, 7, 2, 3, bias=False, name="conv1")(x)
        h = S.ReLU()(S.BatchNorm(name="bn1")(h))
        h = S.MaxPool2d(3, 2, 1, name="maxpool")(h)
    for stage, mult in enumerate((1, 2, 4, 8), start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            h = basic_block(h, width * mult, stride, f"layer{stage}_{block}")
    logits = S.Dense(num_classes, name="fc")(S.GlobalAvgPool()(h))
    net = S.Network("net", inputs=x, outputs=logits)
    return S.ModelSpec("resnet18", {"net": net}, main="net", options={"stem": stem})


def _double_conv(x: S.Tensor, channels: int, prefix: str) -> S.Tensor:
    for i in (1, 2):
        x = S.Conv2d(channels, 3, 1, 1, name=f"{prefix}_conv{i}")(x)
        x = S.ReLU()(S.BatchNorm(name=f"{prefix}_bn{i}")(x))
    return x


@register(
    "unet",
    "small U-Net: two down, two up, skip concatenations; reconstructs its input",
    Recipe(optimizer=Optimizer("adam", 1e-3), steps=400, quick_steps=40),
)
def unet(image_shape: tuple[int, int, int] = (1, 28, 28), width: int = 16) -> S.ModelSpec:
    """Encoder: double conv at ``width``, max-pool, double conv at 2·width, max-pool, double
    conv at 4·width; decoder: upsample, concatenate the skip, double conv (twice); a 1x1
    conv and sigmoid back to the input's channels. H and W divisible by 4."""
    if image_shape[1] % 4 or image_shape[2] % 4:
        raise ValueError(f"unet: image H and W must be divisible by 4, got {image_shape}")
    x = S.Input(image_shape)
    e1 = _double_conv(x, width, "enc1")
    e2 = _double_conv(S.MaxPool2d(2)(e1), 2 * width, "enc2")
    b = _double_conv(S.MaxPool2d(2)(e2), 4 * width, "bottom")
    d2 = _double_conv(S.Concat()([S.Upsample(2)(b), e2]), 2 * width, "dec2")
    d1 = _double_conv(S.Concat()([S.Upsample(2)(d2), e1]), width, "dec1")
    y = S.Sigmoid()(S.Conv2d(image_shape[0], 1, name="out")(d1))
    return S.ModelSpec("unet", {"net": S.Network("net", inputs=x, outputs=y)}, main="net")
