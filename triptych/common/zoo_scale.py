"""Models of the ``scale`` benchmark suite that are not zoo entries: the DCGAN of Radford et
al. (2016) at 64x64 (``dcgan64``). It is deliberately not registered in the zoo: every
zoo-wide test and the tour run each zoo model in every framework, and a 3.6 GFLOP-per-sample
GAN would add minutes to them. `create_spec` resolves these names first, then the zoo's.
"""

from __future__ import annotations

from collections.abc import Callable

from triptych.common import spec as S
from triptych.common import zoo


def dcgan64(
    image_shape: tuple[int, int, int] = (3, 64, 64), latent_size: int = 100, width: int = 64
) -> S.ModelSpec:
    """The DCGAN paper's generator and discriminator at 64x64, channels as in PyTorch's DCGAN
    example (``width`` 64: 512-256-128-64).

    Generator: z (``latent_size``, default 100) -> Dense to 8·width × H/16 × W/16 (the paper's
    "project and reshape", the same map as a 4x4 ConvTranspose from 1x1), BN-ReLU, three
    ConvTranspose2d(k4, s2, p1) to 4·width, 2·width, width with BN-ReLU -> ConvTranspose2d to
    the image's channels, tanh. Discriminator: Conv2d(k4, s2, p1) to width (LeakyReLU 0.2, no
    BN), then 2·width, 4·width, 8·width with BN-LeakyReLU, Flatten, Dense(1) logits (the
    paper's flattened last conv into one output; the 4x4 conv of PyTorch's example). No
    biases, as in that example: 3,576,704 + 2,765,568 parameters at width 64.
    H and W must be divisible by 16."""
    c, h, w = image_shape
    if h % 16 or w % 16:
        raise ValueError(f"dcgan64: image H and W must be divisible by 16, got {image_shape}")
    base = (8 * width, h // 16, w // 16)
    gen_layers: list[S.Layer] = [
        S.Dense(base[0] * base[1] * base[2], bias=False),
        S.Unflatten(base),
        S.BatchNorm(),
        S.ReLU(),
    ]
    for mult in (4, 2, 1):
        gen_layers += [
            S.ConvTranspose2d(mult * width, 4, 2, 1, bias=False),
            S.BatchNorm(),
            S.ReLU(),
        ]
    gen_layers += [S.ConvTranspose2d(c, 4, 2, 1, bias=False), S.Tanh()]
    disc_layers: list[S.Layer] = [S.Conv2d(width, 4, 2, 1, bias=False), S.LeakyReLU(0.2)]
    for mult in (2, 4, 8):
        disc_layers += [
            S.Conv2d(mult * width, 4, 2, 1, bias=False),
            S.BatchNorm(),
            S.LeakyReLU(0.2),
        ]
    disc_layers += [S.Flatten(), S.Dense(1, bias=False)]
    gen = S.Network("generator", (latent_size,), gen_layers, init="dcgan")
    disc = S.Network("discriminator", image_shape, disc_layers, init="dcgan")
    return S.ModelSpec(
        "dcgan64",
        {"generator": gen, "discriminator": disc},
        main="generator",
        options={"latent_size": latent_size},
    )


#: name -> spec factory of the models only the scale suite uses
EXTRA: dict[str, Callable[..., S.ModelSpec]] = {"dcgan64": dcgan64}


def names() -> list[str]:
    """Every name `create_spec` accepts: the zoo's, then the extra ones."""
    return [*zoo.names(), *EXTRA]


def create_spec(name: str, **kwargs: object) -> S.ModelSpec:
    """The spec of ``name`` (an extra model or a zoo model) with the factory's keyword
    arguments; an unknown name raises `ValueError` listing every valid one."""
    if name in EXTRA:
        return EXTRA[name](**kwargs)
    if name not in zoo.names():
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(names())}")
    return zoo.create_spec(name, **kwargs)
