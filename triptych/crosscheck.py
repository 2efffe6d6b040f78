"""Native cross-framework checks: two `Model`s with the same spec, same inputs, every network."""

from __future__ import annotations

import numpy as np

from triptych.common.compare import Comparison, compare_outputs
from triptych.common.data import noise_stream
from triptych.model import Model


def probe_inputs(model: Model, batch: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """A seeded input batch per network: U[0, 1) for images, N(0, 1) for flat inputs."""
    out = {}
    for name, net in model.spec.networks.items():
        rng = noise_stream(seed, f"probe/{name}")
        shape = (batch, *net.input_shape)
        x = rng.random(shape) if len(net.input_shape) == 3 else rng.standard_normal(shape)
        out[name] = x.astype(np.float32)
    return out


def compare_models(
    a: Model,
    b: Model,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    batch: int = 4,
    seed: int = 0,
    weights: bool = False,
) -> Comparison:
    """Eval-mode outputs of every network of ``a`` against reference ``b`` on the same inputs.

    With ``weights=True`` the canonical weights are compared too (as outputs ``w:<name>``).
    """
    label = f"{a.spec.name}: {a.framework} vs {b.framework}"
    if a.spec.hash != b.spec.hash:
        return Comparison(
            label, [], atol, rtol, [f"different specs ({a.spec.hash} vs {b.spec.hash})"]
        )
    xs = probe_inputs(b, batch, seed)
    out_a = {n: a.forward(x, n) for n, x in xs.items()}
    out_b = {n: b.forward(x, n) for n, x in xs.items()}
    if weights:
        out_a.update({f"w:{k}": v for k, v in a.get_weights().items()})
        out_b.update({f"w:{k}": v for k, v in b.get_weights().items()})
    return compare_outputs(out_a, out_b, atol, rtol, label=label)
