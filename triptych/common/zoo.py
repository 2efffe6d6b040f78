"""The model zoo: name -> spec factory (shape-generic) + description.

Every factory takes ``image_shape`` (C, H, W; default the bundled digits' (1, 8, 8)) plus its
own keyword arguments and returns a `ModelSpec`. Training recipes arrive with each model's
training issue; the spec alone is enough to build, export and compare.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from triptych.common import spec as S

DIGITS_SHAPE = (1, 8, 8)


@dataclass(frozen=True)
class ZooEntry:
    name: str
    factory: Callable[..., S.ModelSpec]
    description: str


_ZOO: dict[str, ZooEntry] = {}


def register(name: str, description: str) -> Callable:
    def wrap(factory: Callable[..., S.ModelSpec]) -> Callable[..., S.ModelSpec]:
        _ZOO[name] = ZooEntry(name, factory, description)
        return factory

    return wrap


def names() -> list[str]:
    return list(_ZOO)


def entry(name: str) -> ZooEntry:
    if name not in _ZOO:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(_ZOO)}")
    return _ZOO[name]


def create_spec(name: str, **kwargs: object) -> S.ModelSpec:
    """The spec of zoo model ``name``; unknown keyword arguments raise `TypeError`."""
    return entry(name).factory(**kwargs)


def _flat(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _check_div4(name: str, image_shape: tuple[int, int, int]) -> None:
    if image_shape[1] % 4 or image_shape[2] % 4:
        raise ValueError(f"{name}: image H and W must be divisible by 4, got {image_shape}")


@register("autoencoder", "dense undercomplete autoencoder, sigmoid output")
def autoencoder(
    image_shape: tuple[int, int, int] = DIGITS_SHAPE, code_size: int = 16, hidden: int = 64
) -> S.ModelSpec:
    n = _flat(image_shape)
    enc = S.Network(
        "encoder",
        image_shape,
        [S.Flatten(), S.Dense(hidden), S.ReLU(), S.Dense(code_size), S.Sigmoid()],
    )
    dec = S.Network(
        "decoder",
        (code_size,),
        [S.Dense(hidden), S.ReLU(), S.Dense(n), S.Sigmoid(), S.Unflatten(image_shape)],
    )
    return S.ModelSpec("autoencoder", {"encoder": enc, "decoder": dec}, main=["encoder", "decoder"])


@register("linear_autoencoder", "no non-linearity: the PCA case")
def linear_autoencoder(
    image_shape: tuple[int, int, int] = DIGITS_SHAPE, code_size: int = 8
) -> S.ModelSpec:
    enc = S.Network("encoder", image_shape, [S.Flatten(), S.Dense(code_size)])
    dec = S.Network(
        "decoder", (code_size,), [S.Dense(_flat(image_shape)), S.Unflatten(image_shape)]
    )
    return S.ModelSpec(
        "linear_autoencoder", {"encoder": enc, "decoder": dec}, main=["encoder", "decoder"]
    )


@register("conv_autoencoder", "strided convs down, ConvTranspose2d up, sigmoid output")
def conv_autoencoder(
    image_shape: tuple[int, int, int] = DIGITS_SHAPE, width: int = 16
) -> S.ModelSpec:
    _check_div4("conv_autoencoder", image_shape)
    c = image_shape[0]
    enc = S.Network(
        "encoder",
        image_shape,
        [
            S.Conv2d(width, 3, 2, 1),
            S.BatchNorm(),
            S.ReLU(),
            S.Conv2d(2 * width, 3, 2, 1),
            S.BatchNorm(),
            S.ReLU(),
        ],
    )
    dec = S.Network(
        "decoder",
        enc.output_shape,
        [
            S.ConvTranspose2d(width, 4, 2, 1),
            S.BatchNorm(),
            S.ReLU(),
            S.ConvTranspose2d(c, 4, 2, 1),
            S.Sigmoid(),
        ],
    )
    return S.ModelSpec(
        "conv_autoencoder", {"encoder": enc, "decoder": dec}, main=["encoder", "decoder"]
    )


@register("gan", "DCGAN-style generator + discriminator (logits)")
def gan(
    image_shape: tuple[int, int, int] = DIGITS_SHAPE, latent_size: int = 32, width: int = 32
) -> S.ModelSpec:
    _check_div4("gan", image_shape)
    c, h, w = image_shape
    base = (2 * width, h // 4, w // 4)
    gen = S.Network(
        "generator",
        (latent_size,),
        [
            S.Dense(_flat(base)),
            S.BatchNorm(),
            S.ReLU(),
            S.Unflatten(base),
            S.ConvTranspose2d(width, 4, 2, 1),
            S.BatchNorm(),
            S.ReLU(),
            S.ConvTranspose2d(c, 4, 2, 1),
            S.Tanh(),
        ],
        init="dcgan",
    )
    disc = S.Network(
        "discriminator",
        image_shape,
        [
            S.Conv2d(width, 3, 2, 1),
            S.LeakyReLU(0.2),
            S.Conv2d(2 * width, 3, 2, 1),
            S.BatchNorm(),
            S.LeakyReLU(0.2),
            S.Flatten(),
            S.Dense(1),
        ],
        init="dcgan",
    )
    return S.ModelSpec(
        "gan",
        {"generator": gen, "discriminator": disc},
        main="generator",
        options={"latent_size": latent_size},
    )


@register("classifier", "small CNN backbone (conv+BN+ReLU blocks) and a dense head")
def classifier(
    image_shape: tuple[int, int, int] = DIGITS_SHAPE, num_classes: int = 10, width: int = 16
) -> S.ModelSpec:
    _check_div4("classifier", image_shape)
    backbone = S.Network(
        "backbone",
        image_shape,
        [
            S.Conv2d(width, 3, 1, 1),
            S.BatchNorm(),
            S.ReLU(),
            S.Conv2d(2 * width, 3, 2, 1),
            S.BatchNorm(),
            S.ReLU(),
            S.Conv2d(2 * width, 3, 2, 1),
            S.BatchNorm(),
            S.ReLU(),
            S.Flatten(),
        ],
    )
    head = S.Network("head", backbone.output_shape, [S.Dropout(0.2), S.Dense(num_classes)])
    return S.ModelSpec(
        "classifier",
        {"backbone": backbone, "head": head},
        main=["backbone", "head"],
        options={"num_classes": num_classes},
    )
