"""Two `Model`s of the same spec compared natively: every network on the same probe batch
(and optionally their canonical weights). What `triptych.compare(a, b)` does for models."""

from __future__ import annotations

from triptych.common.compare import Comparison, compare_outputs
from triptych.model import Model
from triptych.verify.inputs import probe_batch
from triptych.verify.runners import NativeRunner


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
    out_a, out_b = {}, {}
    for name, net in b.spec.networks.items():
        x = probe_batch(net.input_shape, batch, seed, name)
        out_a[name] = NativeRunner(a, name).run(x)
        out_b[name] = NativeRunner(b, name).run(x)
    if weights:
        out_a.update({f"w:{k}": v for k, v in a.get_weights().items()})
        out_b.update({f"w:{k}": v for k, v in b.get_weights().items()})
    return compare_outputs(out_a, out_b, atol, rtol, label=label)
