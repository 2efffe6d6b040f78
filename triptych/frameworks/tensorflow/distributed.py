"""TensorFlow data parallelism on its own engine: ``MultiWorkerMirroredStrategy``.

Same function names as `triptych.frameworks.torch.distributed`. Each worker gets a TF_CONFIG
naming every worker on 127.0.0.1 (its own port each); ``init`` creates the strategy (which
starts TensorFlow's collective runtime, so it must come before any other TensorFlow op) with
a collective timeout (``CommunicationOptions(timeout_seconds=...)``, ring all-reduce).

Public API only, in the pattern TensorFlow documents for custom training loops: the step's
``tf.function`` calls ``strategy.run(graph_step)``, so inside the step
``tf.distribute.get_replica_context()`` is the strategy's; ``attach`` all-reduces the
gradients there with ``ReplicaContext.all_reduce(SUM, ...)`` / the number of workers (the
optimizer applies them after ``strategy.run``, see ``attach``), and Keras
``BatchNormalization(synchronized=True)`` (``sync_batchnorm``) all-reduces its moments
through the same context. ``strategy.run``
must be called while the outer ``tf.function`` traces: on CPU the strategy all-reduces
through ``merge_call``, which fails inside a ``tf.function`` nested in an eager
``strategy.run`` ("`merge_call` called while defining a new graph or a tf.function"), and a
graph traced outside the replica context all-reduces nothing. ``attach`` therefore rebuilds
the step object's ``tf.function`` around ``strategy.run`` (the step objects of
`triptych.frameworks.tensorflow.train`: ``_graph_step``, ``_step`` / ``_steps``). The Keras
model is not built in ``strategy.scope()``: its variables stay ordinary ones, updated
identically on every worker. (The first version called the private
``tensorflow.python.ops.collective_ops.all_reduce_v2`` from an unreplicated graph.)
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from triptych.frameworks.tensorflow.compat import keras

UNSUPPORTED: str | None = None
HELPER_ARGV: list[str] = []
ENGINE = "tf.distribute.MultiWorkerMirroredStrategy (collective all-reduce)"
#: the engine's own synchronised BatchNorm
SYNC_BN = "Keras BatchNormalization(synchronized=True) under MultiWorkerMirroredStrategy"
#: why ``--sync-bn`` is refused on this engine (None: it is not)
SYNC_BN_UNSUPPORTED: str | None = None
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


def cluster_processes(
    node_rank: int, per_node: int, hosts: list[str], ports: list[list[int]], root_port: int
) -> list[tuple[str, dict[str, str], bool]]:
    """This node's ``per_node`` workers of a multi-node job, each with a TF_CONFIG naming
    every worker of every node (``hosts[r]:ports[r][local]``, index ``r * per_node +
    local``): what a cluster manager (Kubernetes TFJob, Slurm) sets, so a worker it starts
    just joins. ``root_port`` is unused (worker 0 leads the collectives)."""
    del root_port
    cluster = {
        "worker": [f"{h}:{p}" for h, ps in zip(hosts, ports, strict=True) for p in ps[:per_node]]
    }
    out = []
    for local in range(per_node):
        rank = node_rank * per_node + local
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": rank}}
        out.append((f"worker {rank}", {"TF_CONFIG": json.dumps(tf_config)}, True))
    return out


def joined() -> tuple[int, int, int] | None:
    """(rank, world size, 1) when a cluster manager (Kubernetes' TFJob, Slurm) set
    TF_CONFIG for this process, else None: ``triptych train`` then runs as that one
    worker. Rank counts a ``chief`` first, then the workers (MultiWorkerMirroredStrategy's
    order); an ``evaluator`` or ``ps`` task is refused."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    config = json.loads(raw)
    cluster, task = config.get("cluster", {}), config.get("task", {})
    kind, index = task.get("type"), int(task.get("index", 0))
    if kind not in ("chief", "worker"):
        raise ValueError(f"TF_CONFIG task type {kind!r}: triptych runs chief and worker tasks "
                         "(MultiWorkerMirroredStrategy), not evaluator or ps")  # fmt: skip
    chiefs = len(cluster.get("chief", []))
    world = chiefs + len(cluster.get("worker", []))
    return (index if kind == "chief" else chiefs + index), world, 1


def init(timeout_s: float) -> tuple[int, int]:
    """Create the strategy (collectives time out after ``timeout_s``); (rank, world)."""
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING,
        timeout_seconds=float(timeout_s),
    )
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    _STATE.update(strategy=strategy, world=int(strategy.num_replicas_in_sync))
    return int(strategy.cluster_resolver.task_id), _STATE["world"]


def _replica() -> tf.distribute.ReplicaContext:
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync != _STATE["world"]:
        raise RuntimeError(
            "a data-parallel TensorFlow step ran outside the strategy's replica context "
            "(its tf.function must call strategy.run, see attach)"
        )
    return ctx


def _replicated(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` run by ``strategy.run`` (call it from inside a ``tf.function``)."""
    strategy = _STATE["strategy"]

    def run(*args: Any) -> Any:
        return strategy.run(fn, args=args)

    return run


def attach(step_obj: Any, world: int) -> None:
    """Make ``step_obj``'s step data-parallel: rebuild its ``tf.function`` so the forward
    and backward pass run in ``strategy.run`` (the replica context, where a synchronised
    BatchNorm all-reduces its moments), the gradients are replaced by their mean over the
    workers there (``ReplicaContext.all_reduce``, SUM, / ``world``), and the optimizer
    applies them after ``strategy.run`` returns, outside the replica context: a Keras
    optimizer in a replica context would sum the gradients over the workers itself and
    update through ``strategy.extended.update``, which takes only the strategy's own
    (mirrored) variables, and the model's are ordinary ones."""
    opt = step_obj.opt
    inner = opt.apply
    reduced: list[list[tf.Tensor | None]] = []  # from the replica function to after it

    def all_reduce(grads: list[tf.Tensor | None]) -> None:
        idx = [i for i, g in enumerate(grads) if g is not None]
        summed = _replica().all_reduce(tf.distribute.ReduceOp.SUM, [grads[i] for i in idx])
        grads = list(grads)
        for i, g in zip(idx, summed, strict=True):
            grads[i] = g / world
        reduced.append(grads)

    opt.apply = all_reduce  # what the step's graph calls, inside strategy.run
    replicated = _replicated(step_obj._graph_step)

    def graph_step(*args: Any) -> Any:
        out = replicated(*args)
        inner(reduced.pop())
        return out

    step_obj._graph_step = graph_step  # GeneratorStep traces it lazily
    if hasattr(step_obj, "_step"):  # Supervised/DiscriminatorStep traced theirs at init
        step_obj._step = tf.function(graph_step, reduce_retracing=True)
    if hasattr(step_obj, "_steps"):
        step_obj._steps.clear()


def ray_fit(
    loop: Callable[[dict], None], config: dict, workers: int, storage: str, timeout_s: float
) -> None:
    """Run ``loop(config)`` on ``workers`` Ray Train workers (``TensorflowTrainer``: it sets
    each worker's TF_CONFIG, which ``init``'s strategy reads; ``timeout_s`` is the
    collectives' timeout, set by ``init``); Ray's run files under ``storage``."""
    del timeout_s
    from ray.train import RunConfig, ScalingConfig
    from ray.train.tensorflow import TensorflowTrainer

    TensorflowTrainer(
        loop,
        train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=False),
        run_config=RunConfig(storage_path=storage, name="triptych"),
    ).fit()


def sync_batchnorm(networks: list[Any]) -> int:
    """Make every Keras BatchNormalization of ``networks`` (built, not yet traced)
    synchronised: its batch moments are all-reduced over the workers (global-batch mean
    and variance). Returns how many layers it changed."""
    n = 0
    for built in networks:
        for layer in built.holders.values():  # the layers that hold canonical weights
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.synchronized = True
                n += 1
    return n


def allreduce_sum(value: float) -> float:
    """``value`` summed over the workers (float64)."""
    if "sum" not in _STATE:

        def replica_sum(v: tf.Tensor) -> tf.Tensor:
            # an op made in the replica context has the replica's device; the argument
            # itself has none ("destinations can not be empty")
            return _replica().all_reduce(tf.distribute.ReduceOp.SUM, tf.identity(v))

        _STATE["sum"] = tf.function(_replicated(replica_sum))
    return float(_STATE["sum"](tf.constant(value, tf.float64)).numpy())


def time_allreduce(nbytes: int, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` all-reduces (sum) of ``nbytes`` of float32 over the
    workers (``ReplicaContext.all_reduce`` in a ``tf.function``), each timed after a small
    all-reduce that lines the workers up."""

    def replica_sum(v: tf.Tensor) -> tf.Tensor:
        return _replica().all_reduce(tf.distribute.ReduceOp.SUM, tf.identity(v))

    fn = tf.function(_replicated(replica_sum))
    x = tf.ones((max(1, nbytes // 4),), tf.float32)
    fn(x).numpy()  # trace once
    times = []
    for _ in range(repeats):
        allreduce_sum(0.0)
        t0 = time.perf_counter()
        fn(x).numpy()
        times.append(time.perf_counter() - t0)
    return times


def shutdown() -> None:
    """Drop the strategy (a final all-reduce first, so no worker leaves mid-collective)."""
    if "strategy" in _STATE:
        allreduce_sum(0.0)
        _STATE.pop("strategy")
