"""Sonnet data parallelism: TensorFlow's engine, shared with the TensorFlow backend
(`triptych.frameworks.tensorflow.distributed`: ``MultiWorkerMirroredStrategy``'s collective
all-reduce inside the step's ``tf.function``). Sonnet's steps (`train`) expose the same
``opt.apply(grads)`` hook that ``attach`` wraps, and Sonnet modules are built outside any
strategy scope (their variables stay local, updated identically on every worker), as the
Keras models are. Same function names as `triptych.frameworks.torch.distributed`.
"""

from __future__ import annotations

from triptych.frameworks.tensorflow.distributed import (
    HELPER_ARGV,
    SYNC,
    UNSUPPORTED,
    allreduce_sum,
    attach,
    init,
    processes,
    shutdown,
)

ENGINE = "tf.distribute.MultiWorkerMirroredStrategy (collective all-reduce), Sonnet modules"

__all__ = [
    "ENGINE",
    "HELPER_ARGV",
    "SYNC",
    "UNSUPPORTED",
    "allreduce_sum",
    "attach",
    "init",
    "processes",
    "shutdown",
]
