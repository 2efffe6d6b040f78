"""`triptych serve --workers 2` under faults, with real processes and real signals: SIGKILL of
one worker under steady load costs at most the requests it had in flight and the worker is
replaced within seconds; a crash loop and a start-up failure end the server with a reason."""

import os
import signal
import sys
import textwrap
import time

import pytest
from serve_procs import Load, Served, children, infer_body, serve_cmd

from triptych.serve.server import free_port
from triptych.serve.supervisor import RestartPolicy, why

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc, signals")

REPLACED_WITHIN_S = 15.0  # generous: a replacement loads its models in ~1-2 s here


def test_sigkill_of_one_worker_under_load_loses_at_most_its_requests_in_flight(onnx_root):
    root, fw = onnx_root
    port = free_port()
    server = Served(serve_cmd(root, port, "--workers", "2"), port)
    try:
        server.wait_ready()
        server.wait_line("worker 2 (pid")
        server.wait_line("ready", after=server.wait_line("worker 1 (pid"))
        victim = sorted(server.children())[0]
        load = Load(port, f"/v2/models/gan.generator.{fw}/infer", infer_body(), threads=4)
        time.sleep(1.0)
        t_kill = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        t_died = server.wait_line(f"(pid {victim}) was killed by SIGKILL", after=t_kill)
        t_ready = server.wait_line(") ready", after=t_died, timeout=REPLACED_WITHIN_S)
        time.sleep(1.0)
        results = load.stop()
        assert server.proc.poll() is None  # the parent stays
        assert len(server.children()) == 2 and victim not in server.children()
    finally:
        server.stop()
    failed = [r for r in results if not r[2]]
    # each client thread had one request in flight: at most one failure per thread, and only
    # around the kill (a connection to the dead worker), none once the replacement is ready
    assert len(failed) <= load.threads, failed
    assert all(t_kill - 1.0 <= start <= t_ready for start, _, _ in failed), (t_kill, failed)
    after = [r for r in results if r[0] > t_ready]
    assert after and all(ok for _, _, ok in after)
    assert t_ready - t_kill < REPLACED_WITHIN_S


def _supervised_script(root, port, limit):
    return textwrap.dedent(
        f"""
        import sys
        from triptych.serve.launch import ServeSpec
        from triptych.serve.supervisor import RestartPolicy
        from triptych.serve.workers import run_workers
        spec = ServeSpec(path={str(root)!r}, port={port}, threads=1)
        sys.exit(run_workers(spec, 2, RestartPolicy(limit={limit}, window=60, backoff=0.1)))
        """
    )


def test_a_crash_loop_gives_up_with_the_reason_and_stops_every_worker(onnx_root):
    port = free_port()
    server = Served([sys.executable, "-c", _supervised_script(onnx_root[0], port, 2)], port)
    try:
        server.wait_ready()
        first = server.wait_line("ready")
        server.wait_line("ready", after=first + 1e-6)
        kids = server.children()
        os.kill(kids[0], signal.SIGKILL)
        t = server.wait_line("replacing it in 0 s (1 of 2 crashes in 60 s)")
        server.wait_line(") ready", after=t)
        os.kill(kids[1], signal.SIGKILL)
        assert server.proc.wait(30) == 1
        server.wait_line("2 crashes in 60 s: crash loop, giving up")
        deadline = time.monotonic() + 30
        while children(server.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not children(server.proc.pid)
    finally:
        server.stop()


def test_workers_that_cannot_load_their_models_end_the_server_at_once(tmp_path):
    (tmp_path / "broken.onnx").write_bytes(b"not onnx")
    port = free_port()
    server = Served(serve_cmd(tmp_path, port, "--workers", "2"), port)
    try:
        assert server.proc.wait(60) == 1
        server.wait_line("before any worker was ready: giving up")
        assert "not a valid ONNX file" in server.log()
    finally:
        server.stop()


def test_restart_policy_backs_off_and_names_the_cause():
    policy = RestartPolicy(backoff=0.5, max_backoff=3.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5, 6)] == [0.0, 0.5, 1.0, 2.0, 3.0, 3.0]
    assert why(-signal.SIGKILL) == "was killed by SIGKILL"
    assert why(3) == "exited with code 3"
