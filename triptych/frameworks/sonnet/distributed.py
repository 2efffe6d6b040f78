"""Sonnet data parallelism: TensorFlow's engine, shared with the TensorFlow backend
(`triptych.frameworks.tensorflow.distributed`: ``MultiWorkerMirroredStrategy``, the step's
``tf.function`` rebuilt around ``strategy.run``, gradients all-reduced in the replica
context). Sonnet's step objects (`train`) have the shape ``attach`` rebuilds (``opt.apply``,
``_graph_step``, ``_step`` / ``_steps``), and Sonnet modules are built outside any strategy
scope (their variables stay local, updated identically on every worker), as the Keras models
are. Synchronised BatchNorm is `layers.norm.TorchBatchNorm`'s own (``synchronized``: global-batch
sum, sum of squares and count all-reduced in the same replica context). Same function names
as `triptych.frameworks.torch.distributed`.
"""

from __future__ import annotations

from typing import Any

from triptych.frameworks.sonnet.layers.norm import TorchBatchNorm
from triptych.frameworks.tensorflow.distributed import (
    HELPER_ARGV,
    SYNC,
    UNSUPPORTED,
    allreduce_sum,
    attach,
    cluster_processes,
    init,
    joined,
    processes,
    ray_fit,
    shutdown,
    time_allreduce,
)

ENGINE = "tf.distribute.MultiWorkerMirroredStrategy (collective all-reduce), Sonnet modules"
#: the engine's synchronised BatchNorm
SYNC_BN = "TorchBatchNorm(synchronized=True): moments all-reduced in the replica context"
#: why ``--sync-bn`` is refused on this engine (None: it is not)
SYNC_BN_UNSUPPORTED: str | None = None

__all__ = [
    "ENGINE",
    "HELPER_ARGV",
    "SYNC",
    "SYNC_BN",
    "SYNC_BN_UNSUPPORTED",
    "UNSUPPORTED",
    "allreduce_sum",
    "attach",
    "cluster_processes",
    "init",
    "joined",
    "processes",
    "ray_fit",
    "shutdown",
    "sync_batchnorm",
    "time_allreduce",
]


def sync_batchnorm(networks: list[Any]) -> int:
    """Make every BatchNorm of ``networks`` (built, not yet traced) synchronised: its batch
    moments are the global batch's. Returns how many layers it changed."""
    n = 0
    for built in networks:
        for holder in built.holders.values():
            if isinstance(holder, TorchBatchNorm):
                holder.synchronized = True
                n += 1
    return n
