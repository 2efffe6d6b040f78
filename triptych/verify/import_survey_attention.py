"""The import survey's attention rows (`triptych.verify.import_survey`, source "attention"):
torchvision's VisionTransformer through both torch.onnx exporters, a PyTorch text encoder
(int64 token ids: nn.Embedding, learned positions, nn.TransformerEncoder pre- or post-norm)
through torch.onnx dynamo, and a Keras Embedding + MultiHeadAttention block through tf2onnx,
each at two sizes: the image side for the ViTs, the sequence length for the text models.
Random weights (seeded); nothing is downloaded."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

#: attention rows: name -> the two sizes (image side, or sequence length for text models)
ATTENTION: dict[str, tuple[int, int]] = {
    "vit_dynamo": (28, 32),
    "vit_torchscript": (28, 32),
    "text_pre_norm": (16, 32),
    "text_post_norm": (16, 32),
    "keras_text_mha": (16, 32),
}
#: the rows whose input is int64 token ids (the size is the number of tokens)
TEXT = frozenset({"text_pre_norm", "text_post_norm", "keras_text_mha"})
#: ViT: image side -> patch side; the rest of every model's shape
PATCH = {28: 7, 32: 8}
WIDTH, HEADS, DEPTH, MLP, VOCAB, CLASSES = 64, 4, 2, 128, 100, 10
#: how the rows were made, for the page's header
NOTE = (
    "Attention rows (random weights): torchvision's VisionTransformer (image 28 with patch 7, "
    f"or 32 with patch 8; hidden {WIDTH}, {HEADS} heads, {DEPTH} layers, MLP {MLP}; class "
    "token ~ N(0, 1) and the head re-initialized, as torchvision zeroes both) by torch.onnx, "
    "dynamo and TorchScript, opset 17; a PyTorch text encoder (nn.Embedding over "
    f"{VOCAB} token ids, learned positions, {DEPTH} nn.TransformerEncoderLayer of width "
    f"{WIDTH}, {HEADS} heads, feed-forward {2 * WIDTH}, GELU, pre- or post-norm, mean over "
    "tokens, Linear) by torch.onnx dynamo, opset 18; a Keras Embedding "
    f"({VOCAB} ids, width {WIDTH}) + MultiHeadAttention ({HEADS} heads) + LayerNormalization "
    "+ GlobalAveragePooling1D + Dense block by tf2onnx, opset 17. A text row's input is its "
    "sequence length, fed int64 token ids drawn uniformly below the vocabulary; every other "
    "row is fed N(0, 1) noise."
)


@contextmanager
def quiet_exporter() -> Iterator[None]:
    """torch.onnx's chatter (its steps, its failed conversion down to 17) and warnings
    silenced."""
    chatter = io.StringIO()
    logger = logging.getLogger("torch.onnx")
    level, _ = logger.level, logger.setLevel(logging.ERROR)
    try:
        with redirect_stdout(chatter), redirect_stderr(chatter), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def vision_transformer(size: int, seed: int = 0) -> Any:
    """torchvision's VisionTransformer at ``size`` (random weights, class token ~ N(0, 1) and
    the head nn.Linear's default init: torchvision starts both at zero), in eval mode."""
    import torch

    from triptych.verify.torchvision_cpu import load_torchvision

    load_torchvision()
    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(seed)
    vit = VisionTransformer(image_size=size, patch_size=PATCH[size], num_layers=DEPTH,
                            num_heads=HEADS, hidden_dim=WIDTH, mlp_dim=MLP,
                            num_classes=CLASSES)  # fmt: skip
    with torch.no_grad():
        vit.class_token.normal_()
    vit.heads.head.reset_parameters()  # torchvision zeroes it: every output would be 0
    return vit.eval()


def text_encoder(length: int, norm_first: bool, seed: int = 0) -> Any:
    """The PyTorch text encoder over ``length`` tokens (random weights), in eval mode."""
    import torch

    class _TextEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(VOCAB, WIDTH)
            self.pos = torch.nn.Parameter(0.02 * torch.randn(length, WIDTH))
            layer = torch.nn.TransformerEncoderLayer(WIDTH, HEADS, 2 * WIDTH, dropout=0.0,
                                                     batch_first=True, norm_first=norm_first,
                                                     activation="gelu")  # fmt: skip
            self.encoder = torch.nn.TransformerEncoder(layer, DEPTH, enable_nested_tensor=False)
            self.head = torch.nn.Linear(WIDTH, CLASSES)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.head(self.encoder(self.embed(ids) + self.pos).mean(1))

    torch.manual_seed(seed)
    return _TextEncoder().eval()


def export_attention(name: str, size: int, path: Path) -> Path:
    """The attention row ``name`` at ``size`` to ``path`` (batch dynamic)."""
    if name == "keras_text_mha":
        return _export_keras_text(size, path)
    import numpy as np
    import torch

    names = {"input_names": ["x"], "output_names": ["y"], "verbose": False}
    if name.startswith("vit_"):
        # batch 2: torch.export specializes a batch of 1, and the attention's (L, N, C)
        # reshapes then keep it where the importer cannot follow the batch
        model, x = vision_transformer(size), torch.randn(2, 3, size, size)
        axes = {"dynamic_axes": {"x": {0: "batch"}, "y": {0: "batch"}}}
        kw = {"opset_version": 17, "dynamo": name == "vit_dynamo", **axes}
    elif name in ("text_pre_norm", "text_post_norm"):
        model = text_encoder(size, norm_first=name == "text_pre_norm")
        x = torch.from_numpy(np.random.default_rng(0).integers(0, VOCAB, (2, size)))
        kw = {"opset_version": 18, "dynamo": True,
              "dynamic_shapes": ({0: torch.export.Dim("batch")},)}  # fmt: skip
    else:
        raise KeyError(f"no attention row {name!r}: {sorted(ATTENTION)}")
    with quiet_exporter():
        torch.onnx.export(model, (x,), str(path), **names, **kw)
    return path


def _export_keras_text(length: int, path: Path) -> Path:
    """Keras Embedding + MultiHeadAttention + LayerNormalization (post-norm residual) +
    GlobalAveragePooling1D + Dense over ``length`` int64 ids, by tf2onnx (opset 17)."""
    import keras
    import tensorflow as tf
    import tf2onnx

    keras.utils.set_random_seed(0)
    ids = keras.Input((length,), dtype="int64")
    y = keras.layers.Embedding(VOCAB, WIDTH)(ids)
    a = keras.layers.MultiHeadAttention(num_heads=HEADS, key_dim=WIDTH // HEADS)(y, y)
    y = keras.layers.LayerNormalization(epsilon=1e-5)(keras.layers.Add()([y, a]))
    y = keras.layers.GlobalAveragePooling1D()(y)
    model = keras.Model(ids, keras.layers.Dense(CLASSES)(y))
    fn = tf.function(lambda x: {"output": model(x, training=False)})
    sig = [tf.TensorSpec([None, length], tf.int64, name="ids")]
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=sig, opset=17)
    path.write_bytes(proto.SerializeToString())
    return path
