"""Canonical initial weights from (spec, seed), generated with numpy only.

Every tensor gets its own PCG64 stream seeded with (seed, crc32(tensor name)), so the bytes
depend only on the seed, the tensor's name and its shape: the same on every machine and
independent of the order networks are listed in. Values are drawn in float64 and rounded to
float32 once. Framework initialisers are never used.

Schemes (per network, ``Network.init``):
  * ``default``: PyTorch's default for Linear/Conv: weight and bias ~ U(-1/√fan_in, 1/√fan_in),
    with fan_in = in·k² (Conv2d, Dense) or out·k² (ConvTranspose2d, PyTorch's fan_in of an
    IOHW weight is its dim 1 × k²).
  * ``dcgan``: Radford et al. 2016: conv/dense weights ~ N(0, 0.02), biases 0, BatchNorm
    gamma ~ N(1, 0.02), beta 0.
  * ``kaiming``: He et al. 2015: conv/dense weights ~ N(0, 2/fan_in), biases 0: the forward
    signal keeps its scale through ReLU-like layers, so a deep network without residual
    paths (MobileNetV2) still has one at its output in eval mode at initialisation, where
    BatchNorm's running statistics (0 and 1) normalise nothing.
BatchNorm everywhere: running_mean 0, running_var 1 (gamma 1, beta 0 under ``default``).
Layers that state constant initial values (`Layer.initial_values`: LayerNorm's scale 1 and
shift 0, PReLU's slope 0.25, layer scale's 1e-6) get them under every scheme, and so do those
that state their draws (`Layer.initial_draws`: attention's Xavier projections, a position
embedding's N(0, 0.02²), a class token's zeros).
"""

from __future__ import annotations

import zlib

import numpy as np

from triptych.common.spec import BatchNorm, ModelSpec, Network

INIT_SCHEMES = ("default", "dcgan", "kaiming")


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64([int(seed), zlib.crc32(name.encode())]))


def init_network(net: Network, seed: int = 0) -> dict[str, np.ndarray]:
    """Canonical tensors (parameters and buffers) of one network, float32."""
    if net.init not in INIT_SCHEMES:
        raise ValueError(
            f"network {net.name!r}: unknown init {net.init!r}; allowed: {', '.join(INIT_SCHEMES)}"
        )
    out: dict[str, np.ndarray] = {}
    for info in net.infos:
        prefix = f"{net.name}.{info.key}."
        shapes = info.layer.param_shapes(info.input_shape)
        if isinstance(info.layer, BatchNorm):
            c = shapes["weight"][0]
            if net.init == "dcgan":
                out[prefix + "weight"] = _rng(seed, prefix + "weight").normal(1.0, 0.02, c)
            else:
                out[prefix + "weight"] = np.ones(c)
            out[prefix + "bias"] = np.zeros(c)
            out[prefix + "running_mean"] = np.zeros(c)
            out[prefix + "running_var"] = np.ones(c)
            continue
        draws = info.layer.initial_draws(info.input_shape)
        if draws is not None:
            for key, (how, scale) in draws.items():
                rng = _rng(seed, prefix + key)
                shape = shapes[key]
                out[prefix + key] = (
                    rng.normal(0.0, scale, shape)
                    if how == "normal"
                    else rng.uniform(-scale, scale, shape)
                    if how == "uniform"
                    else np.full(shape, scale)
                )
            continue
        constants = info.layer.initial_values(info.input_shape)
        if constants is not None:
            all_shapes = {**shapes, **info.layer.buffer_shapes(info.input_shape)}
            for key, shape in all_shapes.items():
                out[prefix + key] = np.full(shape, constants[key])
            continue
        if not shapes:
            continue
        w_shape = shapes["weight"]
        receptive = int(np.prod(w_shape[2:])) if len(w_shape) > 2 else 1
        fan_in = w_shape[1] * receptive
        for key, shape in shapes.items():
            rng = _rng(seed, prefix + key)
            if net.init in ("dcgan", "kaiming"):
                std = 0.02 if net.init == "dcgan" else np.sqrt(2.0 / fan_in)
                out[prefix + key] = (
                    rng.normal(0.0, std, shape) if key == "weight" else np.zeros(shape)
                )
            else:
                bound = 1.0 / np.sqrt(fan_in)
                out[prefix + key] = rng.uniform(-bound, bound, shape)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def init_weights(spec: ModelSpec, seed: int = 0) -> dict[str, np.ndarray]:
    """Canonical tensors of every network of ``spec``, keyed ``<network>.<index>.<name>``."""
    weights: dict[str, np.ndarray] = {}
    for net in spec.networks.values():
        weights.update(init_network(net, seed))
    return weights
