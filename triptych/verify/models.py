"""Two `Model`s of the same spec compared natively: every network on the same probe batch
(and optionally their canonical weights). What `triptych.compare(a, b)` and
`triptych.testing.assert_parity` do for models.

Without an atol/rtol, each output is judged by the bound derived from float64 (the rule of
`triptych parity`, `triptych.verify.oracle`): both models are rebuilt in float64 with their
own weights, and ``a`` and ``b`` may differ per element by twice the sum of their distances
to those, plus 4 float32 ulps."""

from __future__ import annotations

import numpy as np

from triptych.common.compare import Comparison, compare_outputs
from triptych.common.tolerances import DEFAULT
from triptych.model import Model
from triptych.verify import oracle as O
from triptych.verify.inputs import probe_for
from triptych.verify.runners import NativeRunner


def compare_models(
    a: Model,
    b: Model,
    atol: float | None = None,
    rtol: float | None = None,
    batch: int = 4,
    seed: int = 0,
    weights: bool = False,
) -> Comparison:
    """Eval-mode outputs of every network of ``a`` against reference ``b`` on the same inputs:
    within atol + rtol·|b| where either is given, else within the bound derived from both
    models' float64 builds (see the module docstring).

    With ``weights=True`` the canonical weights are compared too (as outputs ``w:<name>``,
    at the given tolerance or the default atol 1e-5, rtol 1e-4).
    """
    derived = atol is None and rtol is None
    atol = DEFAULT.atol if atol is None else atol
    rtol = DEFAULT.rtol if rtol is None else rtol
    label = f"{a.spec.name}: {a.framework} vs {b.framework}"
    if a.spec.hash != b.spec.hash:
        return Comparison(
            label, [], atol, rtol, [f"different specs ({a.spec.hash} vs {b.spec.hash})"]
        )
    out_a, out_b = {}, {}
    bounds: dict[str, tuple[float | np.ndarray, float]] = {}
    twins = [_float64_twin(m) for m in (a, b)] if derived else []
    for name, net in b.spec.networks.items():
        x = probe_for(net, batch, seed, name)
        out_a[name] = NativeRunner(a, name).run(x)
        out_b[name] = NativeRunner(b, name).run(x)
        if twins:
            oa, ob = (t.forward(x.astype(np.float64), name) for t in twins)
            bounds[name] = (O.derived_atol(out_a[name], oa, out_b[name], ob), 0.0)
    if weights:
        out_a.update({f"w:{k}": v for k, v in a.get_weights().items()})
        out_b.update({f"w:{k}": v for k, v in b.get_weights().items()})
    if derived:
        label += " (bounds derived from float64)"
    return compare_outputs(out_a, out_b, atol, rtol, label=label, tolerances=bounds)


def _float64_twin(model: Model) -> Model:
    """``model`` rebuilt in float64 in its own framework with its own weights."""
    return Model(model.spec, model.framework, weights=model.get_weights(), dtype="float64")
