"""TensorFlow data parallelism: not implemented yet (see `UNSUPPORTED`).

The intended engine is ``tf.distribute.MultiWorkerMirroredStrategy`` (TF_CONFIG, loopback);
it needs the Keras model built and its optimizer created inside ``strategy.scope()``, which
the backend's ``build``/``train`` modules do not yet allow. Same names as
`triptych.frameworks.torch.distributed`, so the launcher can refuse with the reason.
"""

from __future__ import annotations

from typing import Any

#: why ``--workers N`` refuses this framework
UNSUPPORTED: str | None = (
    "data-parallel training on TensorFlow (MultiWorkerMirroredStrategy) is not implemented "
    "yet: the Keras model and optimizer must be created inside strategy.scope()"
)
HELPER_ARGV: list[str] = []
ENGINE = "tf.distribute.MultiWorkerMirroredStrategy (not implemented)"
SYNC = {"seconds": 0.0}


def processes(world: int, port: int) -> list[tuple[str, dict[str, str], bool]]:
    raise NotImplementedError(UNSUPPORTED)


def init(timeout_s: float) -> tuple[int, int]:
    raise NotImplementedError(UNSUPPORTED)


def attach(step_obj: Any, world: int) -> None:
    raise NotImplementedError(UNSUPPORTED)


def allreduce_sum(value: float) -> float:
    raise NotImplementedError(UNSUPPORTED)


def shutdown() -> None:
    """Nothing to leave."""
