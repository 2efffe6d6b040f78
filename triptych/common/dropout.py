"""Exact Dropout: keep-masks drawn once with numpy and applied by every framework.

Each framework's own Dropout draws its masks from its own RNG, so train-mode outputs differ
across frameworks. Here the mask of Dropout layer ``index`` of ``network`` at training step
``step`` comes from ``noise_stream(seed, "dropout/<network>/<index>/<step>")``: a pure
function of (seed, step, network, layer index), the same on every framework and on a resumed
run. Masks are inverted-dropout masks: 0 where dropped, 1/(1-p) where kept (float32), with
the canonical (NCHW) shape of the layer's input, batch first (StochasticDepth: (batch, 1, 1,
1), one keep per sample, broadcast over the sample). A `MultiHeadAttention` with dropout > 0
counts as a Dropout layer: its masks (batch, heads, L, L) multiply its attention
probabilities.
"""

from __future__ import annotations

import numpy as np

from triptych.common import spec as S
from triptych.common.datasets.stream import noise_stream

#: masks per Dropout layer index of one network
Masks = dict[int, np.ndarray]


def drop_rate(layer: S.Layer) -> float:
    """The probability ``layer`` drops an element with in training: a Dropout's (and
    StochasticDepth's) ``p``, a `MultiHeadAttention`'s ``dropout`` (on its attention
    probabilities), 0 for every other layer."""
    if isinstance(layer, S.Dropout):
        return layer.p
    if isinstance(layer, S.MultiHeadAttention):
        return layer.dropout
    return 0.0


def dropout_layers(network: S.Network) -> list[int]:
    """Indices of the Dropout layers of ``network`` with p > 0 (p = 0 is the identity), and
    of the attention layers with dropout > 0 (their masks are on the probabilities)."""
    return [i for i, info in enumerate(network.infos) if drop_rate(info.layer) > 0]


def mask_size(network: S.Network) -> int:
    """Float elements of one sample's masks over every Dropout layer of ``network``."""
    return sum(
        int(np.prod(network.infos[i].layer.mask_shape(network.infos[i].input_shape)))
        for i in dropout_layers(network)
    )


def has_dropout(spec: S.ModelSpec | S.Network) -> bool:
    """Whether any network of ``spec`` (or the network itself) has a Dropout with p > 0."""
    nets = spec.networks.values() if isinstance(spec, S.ModelSpec) else [spec]
    return any(dropout_layers(n) for n in nets)


def dropout_mask(shape: tuple[int, ...], p: float, rng: np.random.Generator) -> np.ndarray:
    """One inverted-dropout mask of ``shape``: 0 with probability ``p``, else 1/(1-p)."""
    keep = rng.random(shape) >= p
    return keep.astype(np.float32) * np.float32(1.0 / (1.0 - p))


def dropout_masks(network: S.Network, batch: int, seed: int, step: int) -> Masks:
    """Keep-masks for every Dropout layer of ``network`` at ``step`` (any int, 1-based in
    `fit`) for a batch of ``batch``: ``{layer index: (batch, *layer.mask_shape(input shape))
    float32}`` (the input shape for Dropout; (heads, L, L) for an attention's probabilities)."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    out: Masks = {}
    for i in dropout_layers(network):
        info = network.infos[i]
        rng = noise_stream(seed, f"dropout/{network.name}/{i}/{int(step)}")
        shape = (batch, *info.layer.mask_shape(info.input_shape))
        out[i] = dropout_mask(shape, drop_rate(info.layer), rng)
    return out
