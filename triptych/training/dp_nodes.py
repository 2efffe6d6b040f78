"""One machine's part of a multi-node data-parallel job (`triptych.training.cluster` has
the rendezvous and the liveness `Link`): this node's processes from the engine's own
cluster description, launched and watched with the other nodes."""

from __future__ import annotations

import time
from pathlib import Path

from triptych.frameworks.base import get_backend
from triptych.training.cluster import ClusterError, Nodes, rendezvous
from triptych.training.dp_launch import DataParallelError, Job, ProcessList, launch

#: environment variable naming a worker's triptych rank (``node_rank * per_node + local``)
#: in a multi-node job: rank 0 writes the checkpoint, whatever rank the engine gave it
RANK_ENV = "TRIPTYCH_RANK"
#: seconds a node whose worker failed waits to learn whether a peer node died first
NAME_THE_NODE_S = 2.5


def node_processes(job: Job, nodes: Nodes, hosts: list[str], ports: list[list[int]],
                   root_port: int) -> ProcessList:  # fmt: skip
    """This node's processes (the backend's ``cluster_processes``), each worker with its
    triptych rank in `RANK_ENV`. `ValueError` when the engine has no cluster description."""
    dist = get_backend(job.framework).distributed
    make = getattr(dist, "cluster_processes", None)
    if make is None:
        raise ValueError(
            f"--nnodes: the {job.framework} backend has no multi-node cluster description "
            "(cluster_processes); use one node with --workers"
        )
    procs: ProcessList = []
    local = 0
    for name, env, worker in make(nodes.node_rank, job.workers, hosts, ports, root_port):
        if worker:
            env = {**env, RANK_ENV: str(nodes.node_rank * job.workers + local)}
            local += 1
        procs.append((name, env, worker))
    return procs


def launch_nodes(job: Job, log_dir: Path, nodes: Nodes) -> float:
    """This node's part of a multi-node job: meet the other nodes (`rendezvous`), start
    this node's processes from the engine's cluster description and watch them and the
    other nodes; returns the wall seconds. `ClusterError` / `DataParallelError` (one line,
    naming the node) when any node fails; this node's processes are stopped."""
    layout, link = rendezvous(nodes, job.workers)
    try:
        procs = node_processes(job, nodes, layout.hosts, layout.ports, layout.root_port)
        try:
            seconds = launch(job, log_dir, processes=procs, check=link.check)
        except ClusterError:
            raise
        except DataParallelError as e:
            # a local worker fails when a peer node dies: name the node if the link learns
            # of it within a few heartbeats
            deadline = time.monotonic() + NAME_THE_NODE_S
            while link.failure is None and time.monotonic() < deadline:
                time.sleep(0.05)
            link.check()
            link.fail(f"node {nodes.node_rank}: {e}")
            raise DataParallelError(f"node {nodes.node_rank}: {e}") from None
        link.finish()
        return seconds
    finally:
        link.close()
