"""Multi-node pieces that start no framework: flag checks, the rendezvous of nodes in
threads on loopback, a node that never arrives, a lost node, and each engine's cluster
description (torch.distributed env, TF_CONFIG, DMLC_*) for a node's workers."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from triptych.cli import main
from triptych.frameworks.base import get_backend, unavailable_reason
from triptych.training import cluster as C
from triptych.training.dp_launch import free_port


def test_flags_are_checked_with_one_line_naming_what_is_allowed() -> None:
    n = C.Nodes.parse(2, 1, "10.0.0.5:29500", 10)
    assert (n.host, n.port, n.node_rank, n.timeout_s) == ("10.0.0.5", 29500, 1, 10.0)
    for args, msg in [
        ((2, 2, "h:1", 10), "--node-rank must be in 0..1"),
        ((2, 0, None, 10), "needs --coordinator HOST:PORT"),
        ((2, 0, "nohost", 10), "--coordinator must be HOST:PORT"),
        ((2, 0, "h:99999", 10), "--coordinator must be HOST:PORT"),
        ((2, 0, "h:1", 0), "--timeout must be > 0"),
    ]:
        with pytest.raises(ValueError, match=msg):
            C.Nodes.parse(*args)


def _nodes(n: int, timeout_s: float) -> list[C.Nodes]:
    port = free_port()
    return [C.Nodes(n, r, "127.0.0.1", port, timeout_s) for r in range(n)]


def _meet(nodes: list[C.Nodes]) -> dict[int, tuple[C.Layout, C.Link] | Exception]:
    got: dict[int, tuple[C.Layout, C.Link] | Exception] = {}

    def one(n: C.Nodes) -> None:
        try:
            got[n.node_rank] = C.rendezvous(n, 2)
        except Exception as e:  # reported to the test
            got[n.node_rank] = e

    threads = [threading.Thread(target=one, args=(n,)) for n in reversed(nodes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got


def test_three_nodes_meet_and_finish() -> None:
    got = _meet(_nodes(3, 5.0))
    layouts = [got[r][0] for r in range(3)]  # type: ignore[index]
    assert all(lay == layouts[0] for lay in layouts)
    assert layouts[0].hosts == ["127.0.0.1"] * 3 and all(len(p) == 2 for p in layouts[0].ports)
    links = [got[r][1] for r in range(3)]  # type: ignore[index]
    for link in reversed(links):
        link.finish()  # nodes 1, 2 say done; node 0 waits for them
    for link in links:
        link.check()
        link.close()


def test_a_node_that_never_arrives_is_named_within_the_timeout() -> None:
    t0 = time.monotonic()
    got = _meet(_nodes(3, 1.0)[:2])  # node 2 never starts
    assert time.monotonic() - t0 < 5
    assert isinstance(got[0], C.ClusterError)
    assert "node(s) 2 of 3 never arrived at the coordinator 127.0.0.1:" in str(got[0])
    assert "\n" not in str(got[0])


def test_node0_that_never_answers_is_named() -> None:
    with pytest.raises(C.ClusterError, match=r"node 1: node 0 \(the coordinator .*never"):
        C.rendezvous(_nodes(2, 0.5)[1], 1)


def test_a_lost_node_fails_the_others_naming_it() -> None:
    got = _meet(_nodes(3, 5.0))
    links = {r: got[r][1] for r in range(3)}  # type: ignore[index]
    links[2].close()  # node 2 dies: its connection closes
    deadline = time.monotonic() + 3
    while links[1].failure is None and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(C.ClusterError, match="node 0: node 2 was lost"):
        links[0].check()
    with pytest.raises(C.ClusterError, match="node 1: the job failed on another node: node 2"):
        links[1].check()
    for link in links.values():
        link.close()


HOSTS, PORTS = ["10.0.0.1", "10.0.0.2"], [[5001, 5002], [6001, 6002]]


def _backend(framework: str):
    if unavailable_reason(framework) is not None:
        pytest.skip(f"{framework} is not installed")
    return get_backend(framework).distributed


def test_torch_cluster_env_is_torchruns() -> None:
    procs = _backend("torch").cluster_processes(1, 2, HOSTS, PORTS, 7000)
    envs = [env for _, env, _ in procs]
    assert [e["RANK"] for e in envs] == ["2", "3"] and [e["LOCAL_RANK"] for e in envs] == ["0", "1"]
    assert {(e["MASTER_ADDR"], e["MASTER_PORT"], e["WORLD_SIZE"]) for e in envs} == {
        ("10.0.0.1", "7000", "4")
    }


def test_tf_config_names_every_worker_of_every_node() -> None:
    procs = _backend("tensorflow").cluster_processes(1, 2, HOSTS, PORTS, 7000)
    configs = [json.loads(env["TF_CONFIG"]) for _, env, _ in procs]
    workers = ["10.0.0.1:5001", "10.0.0.1:5002", "10.0.0.2:6001", "10.0.0.2:6002"]
    assert all(c["cluster"] == {"worker": workers} for c in configs)
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in (2, 3)]


def test_mxnet_node0_runs_scheduler_and_server() -> None:
    dist = _backend("mxnet")
    roles0 = [env["DMLC_ROLE"] for _, env, _ in dist.cluster_processes(0, 2, HOSTS, PORTS, 7000)]
    procs1 = dist.cluster_processes(1, 2, HOSTS, PORTS, 7000)
    assert roles0 == ["scheduler", "server", "worker", "worker"]
    assert [env["DMLC_ROLE"] for _, env, _ in procs1] == ["worker", "worker"]
    env = procs1[0][1]
    assert (env["DMLC_PS_ROOT_URI"], env["DMLC_PS_ROOT_PORT"]) == ("10.0.0.1", "7000")
    assert (env["DMLC_NUM_WORKER"], env["DMLC_NODE_HOST"]) == ("4", "10.0.0.2")


def test_a_cluster_managers_env_is_joined(monkeypatch: pytest.MonkeyPatch) -> None:
    torch_dist = _backend("torch")
    for k in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "TF_CONFIG"):
        monkeypatch.delenv(k, raising=False)
    assert torch_dist.joined() is None and C.joined_nodes("torch", 10) is None
    env = {"MASTER_ADDR": "h", "MASTER_PORT": "1", "RANK": "3", "WORLD_SIZE": "4"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    nodes = C.joined_nodes("torch", 10)
    assert nodes is not None and (nodes.external, nodes.node_rank, nodes.nnodes) == (True, 3, 4)
    tf_dist = _backend("tensorflow")
    cluster = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}
    task = {"type": "worker", "index": 1}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    assert tf_dist.joined() == (2, 3, 1)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "ps"}}))
    with pytest.raises(ValueError, match="runs chief and worker tasks"):
        tf_dist.joined()


def test_cli_refuses_bad_node_flags_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["train", "autoencoder", "--steps", "1", "--out", str(tmp_path), "--no-progress"]
    for flags, msg in [
        (["--nnodes", "2"], "--nnodes > 1 needs --coordinator HOST:PORT"),
        (["--nnodes", "2", "--node-rank", "2", "--coordinator", "h:1"], "--node-rank must be"),
        (["--node-rank", "1"], "--node-rank 1 needs --nnodes > 1"),
        (["--ray-address", "h:6379"], "--ray-address applies to --launcher ray"),
    ]:
        assert main([*base, *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and "\n" not in err, err
    assert not (tmp_path / "workers").exists()


def test_the_volume_model_predicts_ring_and_parameter_server_bytes() -> None:
    """dp_volume's prediction: a ring all-reduce of S bytes puts 2(N-1)·S on the wire per
    step, a parameter server 2N·S; the loopback counter parses from /proc/net/dev."""
    from triptych.frameworks.base import unavailable_reason
    from triptych.training import dp_volume

    for fw, expected in (("torch", 2 * 1000), ("mxnet", 4 * 1000)):
        if unavailable_reason(fw):
            continue
        assert dp_volume.predicted_bytes(fw, 1000)[0] == expected
    assert dp_volume.loopback_bytes() >= 0
