"""TensorFlow data parallelism on its own engine: ``MultiWorkerMirroredStrategy``.

Same function names as `triptych.frameworks.torch.distributed`. Each worker gets a TF_CONFIG
naming every worker on 127.0.0.1 (its own port each); ``init`` creates the strategy (which
starts TensorFlow's collective runtime, so it must come before any other TensorFlow op) with
a collective timeout. ``attach`` wraps the step object's ``opt.apply`` so that, inside the
step's ``tf.function``, the gradients are all-reduced (sum, then / world) before the update
by TensorFlow's collective all-reduce op (``collective_ops.all_reduce_v2``, ring), on the
collective runtime the strategy configured (``strategy.run`` on tensors from a graph traced
outside ``strategy.scope()`` fails with "destinations can not be empty"). The Keras model itself is
not built in ``strategy.scope()``: its variables stay local, updated identically everywhere.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import tensorflow as tf
from tensorflow.python.ops import collective_ops  # the strategy's own all-reduce op

UNSUPPORTED: str | None = None
HELPER_ARGV: list[str] = []
ENGINE = "tf.distribute.MultiWorkerMirroredStrategy (collective all-reduce)"
#: seconds spent averaging gradients: stays 0 here, the all-reduce runs inside the step's
#: ``tf.function`` graph and cannot be timed apart from the step
SYNC = {"seconds": 0.0}
_STATE: dict[str, Any] = {}


def _port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def processes(world: int, port: int) -> list[tuple[str, dict[str, str], bool]]:
    """``world`` workers, each with TF_CONFIG (worker r on 127.0.0.1, ``port`` for r = 0)."""
    ports = [port] + [_port() for _ in range(world - 1)]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    return [
        (
            f"worker {r}",
            {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": r}})},
            True,
        )
        for r in range(world)
    ]


def init(timeout_s: float) -> tuple[int, int]:
    """Create the strategy (collectives time out after ``timeout_s``); (rank, world)."""
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING,
        timeout_seconds=float(timeout_s),
    )
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    _STATE.update(strategy=strategy, world=int(strategy.num_replicas_in_sync))
    _STATE["timeout"] = float(timeout_s)
    return int(strategy.cluster_resolver.task_id), _STATE["world"]


def _all_reduce_sum(values: list[tf.Tensor], base_key: int = 1) -> list[tf.Tensor]:
    """Sum over the workers with TensorFlow's collective ops (the runtime the strategy set
    up): group 1 of all workers, instance key ``base_key + i`` per value, same everywhere."""
    world, timeout = _STATE["world"], _STATE["timeout"]
    return [
        collective_ops.all_reduce_v2(
            v,
            group_size=world,
            group_key=1,
            instance_key=base_key + i,
            merge_op="Add",
            final_op="Id",
            communication_hint="ring",
            timeout=timeout,
        )
        for i, v in enumerate(values)
    ]


def attach(step_obj: Any, world: int) -> None:
    """Before ``step_obj.opt`` applies gradients, replace each by its mean over workers."""
    opt = step_obj.opt
    inner = opt.apply
    base = 1000 * (len(_STATE.setdefault("attached", [])) + 1)  # instance keys per step object
    _STATE["attached"].append(step_obj)

    def apply(grads: list[tf.Tensor | None]) -> Any:
        idx = [i for i, g in enumerate(grads) if g is not None]
        summed = _all_reduce_sum([grads[i] for i in idx], base)
        grads = list(grads)
        for i, g in zip(idx, summed, strict=True):
            grads[i] = g / world
        return inner(grads)

    opt.apply = apply


def allreduce_sum(value: float) -> float:
    """``value`` summed over the workers (float64)."""
    return float(_all_reduce_sum([tf.constant(float(value), tf.float64)], 900_000)[0].numpy())


def shutdown() -> None:
    """Drop the strategy (a final all-reduce first, so no worker leaves mid-collective)."""
    if "strategy" in _STATE:
        allreduce_sum(0.0)
        _STATE.pop("strategy")
