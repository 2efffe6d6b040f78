"""The zoo's model factories: each registers its spec factory and default recipe.

Imported by `triptych.common.zoo`; the registry is `triptych.common.zoo_registry`.
"""

from __future__ import annotations

from triptych.common import spec as S
from triptych.common.recipe import Optimizer, Recipe
from triptych.common.zoo_registry import DIGITS_SHAPE, register


def _flat(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def conv_blocks(width: int = 16) -> list[S.Layer]:
    """Three conv + BN + ReLU blocks (stride 1, 2, 2): H×W -> H/4×W/4, 2·width channels.
    Shared by the conv autoencoder's encoder and the classifier's backbone."""
    return [
        S.Conv2d(width, 3, 1, 1),
        S.BatchNorm(),
        S.ReLU(),
        S.Conv2d(2 * width, 3, 2, 1),
        S.BatchNorm(),
        S.ReLU(),
        S.Conv2d(2 * width, 3, 2, 1),
        S.BatchNorm(),
        S.ReLU(),
    ]


def _check_div4(name: str, image_shape: tuple[int, int, int]) -> None:
    if image_shape[1] % 4 or image_shape[2] % 4:
        raise ValueError(f"{name}: image H and W must be divisible by 4, got {image_shape}")


@register(
    "autoencoder",
    "dense undercomplete autoencoder, sigmoid output",
    # lr 1e-3: at 2e-3 the sigmoid code's plateaus make the three Adams drift apart (final
    # losses 10 % apart); at 1e-3 they end within 4 %
    Recipe(optimizer=Optimizer("adam", 1e-3), steps=3000, quick_steps=3000),
)
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


@register(
    "linear_autoencoder",
    "no non-linearity: the PCA case",
    Recipe(optimizer=Optimizer("adam", 1e-2), steps=3000, quick_steps=3000),
)
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


def _dense_ae(
    name: str,
    image_shape: tuple[int, int, int],
    code: S.Layer | None,
    code_size: int,
    hidden: int | None,
) -> S.ModelSpec:
    n = _flat(image_shape)
    mid = [S.Dense(hidden), S.ReLU()] if hidden else []
    enc = S.Network(
        "encoder", image_shape, [S.Flatten(), *mid, S.Dense(code_size), *([code] if code else [])]
    )
    dec_mid = [S.Dense(hidden), S.ReLU()] if hidden else []
    dec = S.Network(
        "decoder", (code_size,), [*dec_mid, S.Dense(n), S.Sigmoid(), S.Unflatten(image_shape)]
    )
    return S.ModelSpec(name, {"encoder": enc, "decoder": dec}, main=["encoder", "decoder"])


@register(
    "sparse_autoencoder",
    "overcomplete ReLU code (2x the input) with an L1 penalty",
    Recipe(optimizer=Optimizer("adam", 2e-3), steps=2000, quick_steps=1000, l1=0.01),
)
def sparse_autoencoder(
    image_shape: tuple[int, int, int] = DIGITS_SHAPE, code_size: int | None = None
) -> S.ModelSpec:
    """Overcomplete: code_size defaults to 2 × C·H·W. Train with ``l1=0`` for the plain
    overcomplete net it is compared against."""
    size = code_size or 2 * _flat(image_shape)
    if size <= _flat(image_shape):
        raise ValueError(
            f"sparse_autoencoder: code_size {size} must exceed the input size "
            f"{_flat(image_shape)} (overcomplete)"
        )
    return _dense_ae("sparse_autoencoder", image_shape, S.ReLU(), size, None)


@register(
    "denoising_autoencoder",
    "the autoencoder trained to undo Gaussian/masking noise",
    Recipe(
        optimizer=Optimizer("adam", 2e-3),
        steps=2000,
        quick_steps=2000,
        corruption="gaussian",
        noise_std=0.3,
    ),
)
def denoising_autoencoder(
    image_shape: tuple[int, int, int] = DIGITS_SHAPE, code_size: int = 16, hidden: int = 64
) -> S.ModelSpec:
    """The same network as ``autoencoder``; the recipe corrupts the input (fresh noise each
    step from the common stream) and the loss targets the clean image."""
    spec = autoencoder(image_shape, code_size, hidden)
    return S.ModelSpec("denoising_autoencoder", spec.networks, main=spec.main)


@register(
    "context_encoder",
    "inpaints the centre hole: L2 on the hole + adversarial term",
    Recipe(
        optimizer=Optimizer("adam", 2e-3, (0.5, 0.999)),
        d_optimizer=Optimizer("adam", 2e-4, (0.5, 0.999)),
        steps=1500,
        quick_steps=400,
        hole=0.5,
        rec_weight=0.999,
        adv_weight=0.001,
    ),
)
def context_encoder(
    image_shape: tuple[int, int, int] = DIGITS_SHAPE, width: int = 32, hole: float = 0.5
) -> S.ModelSpec:
    """Pathak et al. 2016: encoder-decoder over the masked image; ``predict`` returns the
    input with the hole (a centred square, side ``hole`` × H) filled by the decoder."""
    _check_div4("context_encoder", image_shape)
    c, h, w = image_shape
    enc = S.Network(
        "encoder",
        image_shape,
        [
            S.Conv2d(width, 3, 2, 1),
            S.LeakyReLU(0.2),
            S.Conv2d(2 * width, 3, 2, 1),
            S.BatchNorm(),
            S.LeakyReLU(0.2),
            S.Flatten(),
            S.Dense(4 * width),
            S.ReLU(),
        ],
    )
    base = (2 * width, h // 4, w // 4)
    dec = S.Network(
        "decoder",
        (4 * width,),
        [
            S.Dense(_flat(base)),
            S.ReLU(),
            S.Unflatten(base),
            S.ConvTranspose2d(width, 4, 2, 1),
            S.BatchNorm(),
            S.ReLU(),
            S.ConvTranspose2d(c, 4, 2, 1),
            S.Sigmoid(),
        ],
    )
    disc = S.Network(
        "discriminator",
        image_shape,
        [
            S.Conv2d(width // 2, 3, 2, 1),
            S.LeakyReLU(0.2),
            S.Conv2d(width, 3, 2, 1),
            S.LeakyReLU(0.2),
            S.Flatten(),
            S.Dense(1),
        ],
        init="dcgan",
    )
    return S.ModelSpec(
        "context_encoder",
        {"encoder": enc, "decoder": dec, "discriminator": disc},
        main=["encoder", "decoder"],
        options={"inpaint_hole": hole},
    )


@register(
    "conv_autoencoder",
    "strided convs down, ConvTranspose2d up, sigmoid output",
    Recipe(optimizer=Optimizer("adam", 2e-3), steps=1500, quick_steps=600),
)
def conv_autoencoder(
    image_shape: tuple[int, int, int] = DIGITS_SHAPE, width: int = 16
) -> S.ModelSpec:
    _check_div4("conv_autoencoder", image_shape)
    c = image_shape[0]
    # the encoder is exactly the classifier's backbone (without its Flatten), so it can
    # initialise the classifier for transfer learning
    enc = S.Network("encoder", image_shape, conv_blocks(width))
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


#: the GAN's (latent size, width) at images of this side or more: the lecture's DCGAN at
#: 28×28 needs the wider nets (MNIST-5k, torch, FD-MNIST on 1,000 samples after 1,500 steps:
#: 225 at width 64 and z 64, 252 at width 32 and z 32, plateauing near 212 by step 3,500)
GAN_SIZES = ((28, 64, 64), (0, 32, 32))


@register(
    "gan",
    "DCGAN-style generator + discriminator (logits)",
    Recipe(
        kind="adversarial",
        optimizer=Optimizer("adam", 2e-4, (0.5, 0.999)),
        scale="symmetric",
        steps=1500,
        quick_steps=600,
        k=1,
    ),
)
def gan(
    image_shape: tuple[int, int, int] = DIGITS_SHAPE,
    latent_size: int | None = None,
    width: int | None = None,
) -> S.ModelSpec:
    """DCGAN-style generator (z -> Dense -> (2·width, h/4, w/4) -> ConvTranspose ×2 -> tanh)
    and a mirrored strided-conv discriminator (logits). ``latent_size`` and ``width``
    default by image side (`GAN_SIZES`): 32/32 below 28 pixels (the 8×8 digits), 64/64 from
    28 (MNIST)."""
    _check_div4("gan", image_shape)
    c, h, w = image_shape
    default_latent, default_width = next((z, wd) for side, z, wd in GAN_SIZES if h >= side)
    latent_size = latent_size or default_latent
    width = width or default_width
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


@register(
    "classifier",
    "small CNN backbone (conv+BN+ReLU blocks) and a dense head",
    Recipe(kind="supervised", optimizer=Optimizer("adam", 1e-3), steps=600, quick_steps=200),
)
def classifier(
    image_shape: tuple[int, int, int] = DIGITS_SHAPE, num_classes: int = 10, width: int = 16
) -> S.ModelSpec:
    """Backbone: three conv+BN+ReLU blocks (layers 0-2, 3-5, 6-8) and a Flatten; head:
    Dropout(0.2) and a Dense to ``num_classes`` logits. Freeze policies act on the blocks."""
    _check_div4("classifier", image_shape)
    if num_classes < 2:
        raise ValueError(f"classifier: num_classes must be >= 2, got {num_classes}")
    backbone = S.Network("backbone", image_shape, [*conv_blocks(width), S.Flatten()])
    head = S.Network("head", backbone.output_shape, [S.Dropout(0.2), S.Dense(num_classes)])
    return S.ModelSpec(
        "classifier",
        {"backbone": backbone, "head": head},
        main=["backbone", "head"],
        options={"num_classes": num_classes},
    )


#: Recipe changes per data set, by model name: ``recipe_for_data`` applies them to the
#: model's default (8×8 digits) recipe. Sized for MNIST-5k (4,000 training images, 28×28) on
#: 2 CPU cores, measured in benchmarks/mnist.md: each model's run takes at most a few
#: minutes per framework. The GAN keeps the lecture's optimizer, 3,000 steps (a step at 28×28
#: costs ~5-15× one at 8×8); the linear AE keeps Adam 1e-2 (at 3e-3 its test MSE is as close
#: to PCA's but its 8th direction has not settled: largest principal angle 38° vs 6°).
DATA_RECIPE_CHANGES: dict[str, dict[str, dict[str, object]]] = {
    "mnist": {
        "classifier": {"steps": 600, "quick_steps": 60},
        # the sigmoid code saturates on 784 inputs: at Adam 1e-3 the net sits on the
        # mean-image plateau after 2,000 steps (test MSE 0.067 = the mean image's); 3e-3
        # leaves it (0.050, torch)
        "autoencoder": {"steps": 2000, "quick_steps": 300, "optimizer": Optimizer("adam", 3e-3)},
        "linear_autoencoder": {"steps": 3000, "quick_steps": 400},
        "sparse_autoencoder": {"steps": 600, "quick_steps": 100},
        "denoising_autoencoder": {
            "steps": 2000,
            "quick_steps": 300,
            "optimizer": Optimizer("adam", 3e-3),
        },
        "conv_autoencoder": {"steps": 800, "quick_steps": 100},
        "context_encoder": {"steps": 400, "quick_steps": 60},
        # 3,000 steps at width 64 / z 64 (`GAN_SIZES`): FD-MNIST 10.7× below the untrained
        # generator by step 2,500 (torch), 5.7× after 1,000 steps at width 32
        "gan": {"steps": 3000, "quick_steps": 150, "checkpoint_every": 500},
    },
}


def recipe_for_data(model: str, data: str, recipe: Recipe) -> Recipe:
    """``recipe`` (the model's default) with the changes `DATA_RECIPE_CHANGES` lists for
    ``data`` ("mnist"); unchanged for any other data (the 8×8 digits, a file)."""
    changes = DATA_RECIPE_CHANGES.get(str(data), {}).get(model)
    return recipe.with_(**changes) if changes else recipe
