"""Chainer data parallelism: not available here, with the reason.

Chainer's engine is ChainerMN (``chainermn``), which runs on MPI: it needs an MPI library
and ``mpi4py`` (built against it), and its CPU communicator (``naive``) all-reduces through
MPI too. Neither is installed on these machines (no system MPI; ``mpi4py`` builds from source
against one), so ``--workers N`` refuses Chainer with this reason. The names are those of
`triptych.frameworks.torch.distributed`, so callers read ``UNSUPPORTED`` first.
"""

from __future__ import annotations

from typing import Any

#: why ``--workers N`` refuses this framework
UNSUPPORTED: str | None = (
    "chainer's data-parallel engine is ChainerMN, which needs MPI and mpi4py; neither is "
    "installed here (train chainer with one process, or use torch, tensorflow, mxnet or "
    "sonnet with --workers)"
)
HELPER_ARGV: list[str] = []
ENGINE = "ChainerMN (MPI all-reduce; not installed)"
SYNC_BN = "chainermn.links.MultiNodeBatchNormalization (MPI; not installed)"
SYNC_BN_UNSUPPORTED: str | None = UNSUPPORTED
SYNC = {"seconds": 0.0}


def _refuse(*_: Any, **__: Any) -> Any:
    raise ValueError(UNSUPPORTED)


processes = cluster_processes = init = attach = allreduce_sum = time_allreduce = sync_batchnorm = (
    _refuse
)


def joined() -> None:
    """None: no cluster manager's worker environment is recognised for Chainer."""
    return None


def shutdown() -> None:
    """Nothing to leave: no group is ever joined."""
