"""Beyond one machine: the nodes of a multi-node data-parallel job find each other, and a
node that dies or never arrives fails the job on every other node.

``triptych train MODEL -f FW --nnodes N --node-rank R --coordinator HOST:PORT --workers K``
runs on every machine. Node 0 listens on the coordinator address (all interfaces, PORT);
every other node connects to it (retrying until ``timeout_s``) and sends its rank, the
address it reaches node 0 from (how the others reach it) and the ports it reserved for its
workers. When all N have arrived node 0 answers each with the table (`Layout`): every
node's address and ports, and the engine's root port on node 0 (PyTorch's MASTER_PORT,
MXNet's scheduler). Each backend turns the table into its own cluster description
(``cluster_processes``: torch.distributed's env, TF_CONFIG, DMLC_*), global rank
``R * K + local``.

The rendezvous connections stay open for the whole run (`Link`): every node sends a
heartbeat each second; node 0 fails the job (and tells the others) when a node's
connection closes or is silent for ``timeout_s`` seconds, another node fails it when node
0's does. Errors are one line naming the node. A node that has finished says so, and node 0
waits for every node's "done" (up to ``timeout_s``) before it leaves.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field

from triptych.frameworks.base import get_backend
from triptych.training.dp_launch import DataParallelError

#: seconds between heartbeats
BEAT_S = 1.0
#: seconds between connection attempts of a node that waits for node 0
RETRY_S = 0.2


class ClusterError(DataParallelError):
    """A multi-node job failed: one line naming the node and why."""


@dataclass(frozen=True)
class Nodes:
    """This machine's place in a multi-node job: ``nnodes`` machines, this one
    ``node_rank`` (0 hosts the coordinator), node 0 at ``host``:``port``;
    ``timeout_s``: seconds to wait for a node (arrival, heartbeat, finish; default 60).
    ``external``: this process is one worker a cluster manager started (torchrun,
    TF_CONFIG; `joined_nodes`): ``nnodes`` is the world size, ``node_rank`` its rank, and it
    trains in this process."""

    nnodes: int
    node_rank: int
    host: str
    port: int
    timeout_s: float = 60.0
    external: bool = False
    local_workers: int = 1

    @classmethod
    def parse(cls, nnodes: int, node_rank: int, coordinator: str | None, timeout_s: float) -> Nodes:
        """Check the flags; `ValueError` (one line) naming what is wrong and what is allowed."""
        if nnodes < 1:
            raise ValueError(f"--nnodes must be >= 1, got {nnodes}")
        if not 0 <= node_rank < nnodes:
            raise ValueError(f"--node-rank must be in 0..{nnodes - 1} (--nnodes {nnodes}), "
                             f"got {node_rank}")  # fmt: skip
        if timeout_s <= 0:
            raise ValueError(f"--timeout must be > 0 seconds, got {timeout_s:g}")
        if not coordinator:
            raise ValueError("--nnodes > 1 needs --coordinator HOST:PORT (node 0's address)")
        host, _, port = coordinator.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"--coordinator must be HOST:PORT (port 1..65535), got {coordinator!r}"
            )
        return cls(nnodes, node_rank, host.strip("[]"), int(port), float(timeout_s))

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def joined_nodes(framework: str, timeout_s: float) -> Nodes | None:
    """`Nodes` (``external``) when a cluster manager started this process with the
    engine's own worker environment (the backend's ``joined``: torchrun's
    MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE, TF_CONFIG), else None."""
    try:
        dist = get_backend(framework).distributed
    except ImportError:  # not installed: the one-process run reports it with the extra
        return None
    found = getattr(dist, "joined", lambda: None)()
    if found is None:
        return None
    rank, world, local = found
    return Nodes(world, rank, "", 0, float(timeout_s), external=True, local_workers=local)


@dataclass(frozen=True)
class Layout:
    """The job's nodes: ``hosts[r]`` reaches node r, ``ports[r]`` are the ports node r
    reserved (one per worker), ``root_port`` is the engine's root on node 0."""

    hosts: list[str]
    ports: list[list[int]]
    root_port: int


def free_ports(n: int, host: str = "") -> list[int]:
    """``n`` TCP ports free on this machine now (the OS picks them)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind((host, 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def _send(sock: socket.socket, msg: dict) -> None:
    sock.sendall((json.dumps(msg) + "\n").encode())


class _Lines:
    """Newline-delimited JSON from a socket (``None``: closed)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, b""

    def read(self) -> dict | None:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


@dataclass
class Link:
    """The open rendezvous connections of one node, watched by threads. ``failure`` is the
    first one-line reason the job must stop (`check` raises it)."""

    nodes: Nodes
    peers: dict[int, socket.socket]  # node 0: every other node; others: {0: node 0}
    failure: str | None = None
    done: set[int] = field(default_factory=set)
    finished: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for r, sock in self.peers.items():
            threading.Thread(target=self._watch, args=(r, sock), daemon=True).start()
        threading.Thread(target=self._beat, daemon=True).start()

    def _fail(self, why: str) -> None:
        with self.lock:
            if self.failure is not None or self.finished:
                return
            self.failure = why
        for sock in self.peers.values():  # tell the others (node 0 passes it on)
            with contextlib.suppress(OSError):
                _send(sock, {"fail": why})

    def _beat(self) -> None:
        while self.failure is None and not self.finished:
            for sock in list(self.peers.values()):
                with contextlib.suppress(OSError):  # the watcher reports a lost connection
                    _send(sock, {"beat": self.nodes.node_rank})
            time.sleep(BEAT_S)

    def _watch(self, r: int, sock: socket.socket) -> None:
        sock.settimeout(self.nodes.timeout_s)
        lines = _Lines(sock)
        who = "node 0 (the coordinator)" if r == 0 else f"node {r}"
        while True:
            try:
                msg = lines.read()
            except TimeoutError:
                if r not in self.done:
                    self._fail(f"{who} sent nothing for {self.nodes.timeout_s:g} s "
                               "(hung or unreachable); stopped this node")  # fmt: skip
                return
            except (OSError, ValueError) as e:
                msg = None if isinstance(e, OSError) else {}
            if msg is None:
                if r not in self.done:
                    self._fail(f"{who} was lost (its connection closed: the node died or "
                               "was stopped); stopped this node")  # fmt: skip
                return
            if "fail" in msg:
                self._fail(f"the job failed on another node: {msg['fail']}")
                return
            if "done" in msg:
                self.done.add(r)

    def check(self) -> None:
        """`ClusterError` when another node failed or was lost."""
        if self.failure is not None:
            raise ClusterError(f"node {self.nodes.node_rank}: {self.failure}")

    def fail(self, why: str) -> None:
        """This node failed: tell the others (through node 0)."""
        self._fail(why)

    def finish(self) -> None:
        """This node's workers finished: say so; node 0 waits for every node's "done"."""
        if self.nodes.node_rank != 0:
            for sock in self.peers.values():
                _send(sock, {"done": self.nodes.node_rank})
        else:
            deadline = time.monotonic() + self.nodes.timeout_s
            while set(self.peers) - self.done and time.monotonic() < deadline:
                self.check()
                time.sleep(0.05)
        with self.lock:
            self.finished = True

    def close(self) -> None:
        with self.lock:
            self.finished = True
        for sock in self.peers.values():
            with contextlib.suppress(OSError):
                sock.close()


def _serve(nodes: Nodes, ports: list[int], root_port: int) -> tuple[Layout, Link]:
    """Node 0: accept the other nodes until all arrived or ``timeout_s``."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(("", nodes.port))
    except OSError as e:
        raise ClusterError(
            f"node 0 cannot listen on the coordinator port {nodes.port}: {e}"
        ) from None
    server.listen(nodes.nnodes)
    deadline = time.monotonic() + nodes.timeout_s
    peers: dict[int, socket.socket] = {}
    hello: dict[int, dict] = {0: {"host": nodes.host, "ports": ports}}
    try:
        while len(hello) < nodes.nnodes:
            server.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                sock, _ = server.accept()
            except TimeoutError:
                missing = sorted(set(range(nodes.nnodes)) - set(hello))
                raise ClusterError(
                    f"node(s) {', '.join(map(str, missing))} of {nodes.nnodes} never arrived at "
                    f"the coordinator {nodes.where} within {nodes.timeout_s:g} s (started with "
                    f"--nnodes {nodes.nnodes} --coordinator {nodes.where}?)"
                ) from None
            sock.settimeout(nodes.timeout_s)
            msg = _Lines(sock).read() or {}
            r, n = msg.get("node"), msg.get("nnodes")
            why = None
            if n != nodes.nnodes:
                why = f"node {r} was started with --nnodes {n}, node 0 with {nodes.nnodes}"
            elif r in hello:
                why = f"two nodes were started with --node-rank {r}"
            if why:
                _send(sock, {"fail": why})
                sock.close()
                raise ClusterError(why)
            peers[int(r)] = sock
            hello[int(r)] = msg
    except BaseException:
        for sock in peers.values():
            sock.close()
        raise
    finally:
        server.close()
    layout = Layout([hello[r]["host"] for r in range(nodes.nnodes)],
                    [hello[r]["ports"] for r in range(nodes.nnodes)], root_port)  # fmt: skip
    for sock in peers.values():
        _send(sock, {"hosts": layout.hosts, "ports": layout.ports, "root_port": root_port})
    return layout, Link(nodes, peers)


def _join(nodes: Nodes, ports: list[int]) -> tuple[Layout, Link]:
    """Node R > 0: connect to node 0 (retrying until ``timeout_s``), get the table."""
    deadline = time.monotonic() + nodes.timeout_s
    while True:
        try:
            sock = socket.create_connection((nodes.host, nodes.port), timeout=RETRY_S * 5)
            break
        except OSError as e:
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"node {nodes.node_rank}: node 0 (the coordinator {nodes.where}) never "
                    f"answered within {nodes.timeout_s:g} s ({e})"
                ) from None
            time.sleep(RETRY_S)
    host = sock.getsockname()[0]  # the address node 0 sees this node at
    _send(sock, {"node": nodes.node_rank, "nnodes": nodes.nnodes, "host": host, "ports": ports})
    sock.settimeout(max(0.01, deadline - time.monotonic()) + nodes.timeout_s)
    try:
        msg = _Lines(sock).read()
    except TimeoutError:
        msg = None
    if not msg or "fail" in msg:
        sock.close()
        why = (msg or {}).get("fail", "node 0 closed the connection before every node arrived")
        raise ClusterError(f"node {nodes.node_rank}: {why}")
    return Layout(msg["hosts"], msg["ports"], int(msg["root_port"])), Link(nodes, {0: sock})


def rendezvous(nodes: Nodes, workers_per_node: int) -> tuple[Layout, Link]:
    """Meet the other nodes (`ClusterError` naming the missing ones after ``timeout_s``);
    returns the table and the started `Link` that watches them."""
    ports = free_ports(workers_per_node)
    if nodes.node_rank == 0:
        layout, link = _serve(nodes, ports, free_ports(1)[0])
    else:
        layout, link = _join(nodes, ports)
    link.start()
    return layout, link
