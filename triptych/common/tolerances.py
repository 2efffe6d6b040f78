"""The fixed tolerance, for comparisons that have no float64 oracle: a file made elsewhere
(no spec to build in float64) or an atol/rtol the caller gave. Everything else is judged by
bounds derived from float64 builds (`triptych.verify.oracle`); no per-model bound exists.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float
    why: str = "default"


#: float32 end to end without an oracle: numpy's allclose rule |a - b| <= atol + rtol·|b|
DEFAULT = Tolerance(1e-5, 1e-4)


def tolerance_for(
    model: str, output: str, atol: float | None = None, rtol: float | None = None
) -> Tolerance:
    """The fixed tolerance for one output of ``model``: the caller's atol/rtol where given,
    DEFAULT for the rest (``model`` and ``output`` name what is compared, for messages)."""
    if atol is None and rtol is None:
        return DEFAULT
    return Tolerance(
        DEFAULT.atol if atol is None else atol,
        DEFAULT.rtol if rtol is None else rtol,
        f"given by the caller for {model} {output}",
    )
