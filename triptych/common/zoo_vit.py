"""A tiny Vision Transformer (Dosovitskiy et al. 2021) in the zoo: non-overlapping patches
embedded by a strided convolution, a class token and learned position embeddings, pre-norm
encoder blocks (LayerNorm, multi-head self-attention, LayerNorm, a GELU MLP, each added back
to its input), a final LayerNorm and a linear head on the class token: torchvision's
``VisionTransformer`` at MNIST size. Like the convolutional classifier it is a ``backbone``
(ending in the class token's features) and a ``head``, so it goes through transfer
learning the same way (``triptych train vit_tiny --init CKPT --freeze most``); the freeze
policies act on its encoder blocks.
"""

from __future__ import annotations

from triptych.common import spec as S
from triptych.common.recipe import Optimizer, Recipe
from triptych.common.zoo_registry import register


def encoder_block(t: S.Tensor, heads: int, mlp: int, dropout: float, prefix: str) -> S.Tensor:
    """Pre-norm transformer encoder block (torchvision's ``EncoderBlock``): ``t +
    attention(LN(t))``, then ``+ MLP(LN(.))`` with GELU and ``dropout`` after each MLP
    layer. Copy it to build others: post-norm is ``LN(t + attention(t))``."""
    width = t.shape[-1]
    a = S.MultiHeadAttention(heads, name=f"{prefix}_attn")(S.LayerNorm(name=f"{prefix}_ln1")(t))
    if dropout:
        a = S.Dropout(dropout)(a)
    t = S.Add()([t, a])
    h = S.GELU()(S.Dense(mlp, name=f"{prefix}_mlp1")(S.LayerNorm(name=f"{prefix}_ln2")(t)))
    if dropout:
        h = S.Dropout(dropout)(h)
    h = S.Dense(width, name=f"{prefix}_mlp2")(h)
    if dropout:
        h = S.Dropout(dropout)(h)
    return S.Add()([t, h])


@register(
    "vit_tiny",
    "Vision Transformer: patch tokens, class token, 4 pre-norm attention blocks, ~0.14M params",
    # MNIST-5k, 1800 steps, test accuracy: 0.955 with each image shifted by up to 1 px
    # (seed 1: 0.962; TensorFlow: 0.955), 0.946 by up to 2 px, 0.943 unshifted (600 steps:
    # 0.909; patch 4 at 1200: 0.899); benchmarks/mnist.md has all three frameworks
    Recipe(
        kind="supervised", optimizer=Optimizer("adam", 1e-3), steps=1800, quick_steps=20, shift=1
    ),
)
def vit_tiny(
    image_shape: tuple[int, int, int] = (1, 28, 28),
    num_classes: int = 10,
    patch: int | None = None,
    width: int = 64,
    depth: int = 4,
    heads: int = 4,
    mlp: int = 128,
    dropout: float = 0.1,
) -> S.ModelSpec:
    """Patches of ``patch`` pixels (default H/4: 16 tokens; 7 at 28x28, 2 at 8x8) embedded
    to ``width`` features, ``depth`` blocks of ``heads`` heads and an MLP of ``mlp``,
    ``dropout`` in the blocks (exact masks in training parity), the head on the class
    token. At (1, 28, 28) with the defaults: 139k parameters."""
    _, h, w = image_shape
    patch = patch or max(1, h // 4)
    if h % patch or w % patch:
        raise ValueError(f"vit_tiny: patch {patch} must divide the image's {h}x{w}")
    if width % heads or num_classes < 2:
        raise ValueError(f"vit_tiny: heads {heads} must divide width {width}, num_classes >= 2")
    x = S.Input(image_shape)
    t = S.Tokens()(S.Conv2d(width, patch, stride=patch, name="patch_embed")(x))
    t = S.PositionEmbedding(name="pos_embed")(S.ClassToken(name="cls")(t))
    for i in range(depth):
        t = encoder_block(t, heads, mlp, dropout, f"block{i}")
    t = S.LayerNorm(name="norm")(t)
    backbone = S.Network("backbone", inputs=x, outputs=S.Flatten()(S.Slice(0, 1, axis=1)(t)))
    head = S.Network("head", (width,), [S.Dense(num_classes, name="fc")])
    # freeze policies act on the encoder blocks; the patch embedding goes with the first
    block_ln = [i.index for i in backbone.infos if str(i.layer.name).endswith("_ln1")]
    starts = [0, *block_ln[1:]]
    options = {"num_classes": num_classes, "patch": patch, "width": width, "depth": depth,
               "block_starts": starts}  # fmt: skip
    return S.ModelSpec("vit_tiny", {"backbone": backbone, "head": head},
                       main=["backbone", "head"], options=options)  # fmt: skip


@register(
    "vit_mae",
    "masked autoencoder: ViT encoder + small decoder rebuild the masked patches, ~0.15M params",
    Recipe(
        optimizer=Optimizer("adam", 1e-3),
        steps=1500,
        quick_steps=100,
        corruption="patches",
        mask_prob=0.75,
        patch_grid=4,
    ),
)
def vit_mae(
    image_shape: tuple[int, int, int] = (1, 8, 8),
    width: int = 64,
    depth: int = 4,
    heads: int = 4,
    mlp: int = 128,
    decoder_width: int = 32,
    decoder_depth: int = 1,
    decoder_heads: int = 2,
    hole: float = 0.5,
) -> S.ModelSpec:
    """He et al. 2022's masked autoencoder at digit size, in the SimMIM form static shapes
    allow: the recipe zeroes 75 % of the 4 × 4 patches (``patches``), the encoder (the
    ``vit_tiny`` blocks, no class token) sees every patch, masked ones as zeros, a narrower
    decoder maps each token back to its H/4 × W/4 pixels (`Untokens`, then a
    ConvTranspose2d with kernel = stride = patch: a per-token linear map to its patch) and
    the loss is the MSE on the masked patches only. ``predict`` fills the context
    encoder's centre ``hole`` (side ``hole`` × H), so the two compare on the same holes.
    Heads of 16 features in both (64 / 4, 32 / 2): torch's exporter splits the 1/sqrt(16)
    score scale over q and k as 1/2 each, so the import reads the weights back bit for bit
    (with 8 features, 8^-1/4, they come back within one float32 rounding)."""
    c, h, w = image_shape
    patch = max(1, h // 4)
    if h % 4 or w % 4:
        raise ValueError(f"vit_mae: the image's {h}x{w} must be multiples of 4 (4 x 4 patches)")
    if width % heads or decoder_width % decoder_heads:
        raise ValueError(
            f"vit_mae: heads {heads} must divide width {width}, decoder_heads "
            f"{decoder_heads} decoder_width {decoder_width}"
        )
    x = S.Input(image_shape)
    t = S.Tokens()(S.Conv2d(width, patch, stride=patch, name="patch_embed")(x))
    t = S.PositionEmbedding(name="pos_embed")(t)
    for i in range(depth):
        t = encoder_block(t, heads, mlp, 0.0, f"block{i}")
    t = S.Dense(decoder_width, name="decoder_embed")(S.LayerNorm(name="norm")(t))
    t = S.PositionEmbedding(name="decoder_pos")(t)
    for i in range(decoder_depth):
        t = encoder_block(t, decoder_heads, 2 * decoder_width, 0.0, f"decoder{i}")
    grid = S.Untokens(h // patch, w // patch)(S.LayerNorm(name="decoder_norm")(t))
    y = S.Sigmoid()(S.ConvTranspose2d(c, patch, stride=patch, padding=0, name="to_pixels")(grid))
    net = S.Network("mae", inputs=x, outputs=y)
    return S.ModelSpec("vit_mae", {"mae": net}, main=["mae"],
                       options={"inpaint_hole": hole, "patch": patch})  # fmt: skip
