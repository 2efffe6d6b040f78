"""Exact Dropout: keep-masks drawn once with numpy and applied by every framework.

Each framework's own Dropout draws its masks from its own RNG, so train-mode outputs differ
across frameworks. Here the mask of Dropout layer ``index`` of ``network`` at training step
``step`` comes from ``noise_stream(seed, "dropout/<network>/<index>/<step>")``: a pure
function of (seed, step, network, layer index), the same on every framework and on a resumed
run. Masks are inverted-dropout masks: 0 where dropped, 1/(1-p) where kept (float32), with
the canonical (NCHW) shape of the layer's input, batch first (StochasticDepth: (batch, 1, 1,
1), one keep per sample, broadcast over the sample).
"""

from __future__ import annotations

import numpy as np

from triptych.common import spec as S
from triptych.common.datasets.stream import noise_stream

#: masks per Dropout layer index of one network
Masks = dict[int, np.ndarray]


def dropout_layers(network: S.Network) -> list[int]:
    """Indices of the Dropout layers of ``network`` with p > 0 (p = 0 is the identity)."""
    return [
        i
        for i, info in enumerate(network.infos)
        if isinstance(info.layer, S.Dropout) and info.layer.p > 0
    ]


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
    `fit`) for a batch of ``batch``: ``{layer index: (batch, *input shape) float32}``."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    out: Masks = {}
    for i in dropout_layers(network):
        info = network.infos[i]
        rng = noise_stream(seed, f"dropout/{network.name}/{i}/{int(step)}")
        out[i] = dropout_mask((batch, *info.layer.mask_shape(info.input_shape)), info.layer.p, rng)
    return out
