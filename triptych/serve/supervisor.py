"""The ``--workers N`` parent: keeps N worker processes running, replaces one that dies, and
drains them all on SIGTERM/SIGINT.

- A worker that dies (a crash, the OOM killer, a SIGKILL) is replaced, and the parent logs
  which worker, its pid and why (exit code or signal). Only that worker's requests in flight
  are lost: the other workers go on accepting on the port (`workers`).
- Crash loops: the first crash in ``RestartPolicy.window`` seconds is replaced at once, the
  next ones after a backoff that doubles from ``backoff`` seconds; at ``limit`` crashes in the
  window the parent gives up, stops the other workers and exits 1 with the reason. A worker
  that dies before any worker was ever ready (models that do not load, say) is a start-up
  failure: the parent exits 1 at once.
- SIGTERM or SIGINT: the parent passes the signal on (each worker stops accepting) and
  waits up to ``grace`` + `EXIT_SLACK_S` seconds for the workers to answer what they
  accepted and exit (then SIGKILL); a second signal kills the workers and exits at once.

Log lines go to stderr, prefixed ``triptych serve:``.
"""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

EXIT_SLACK_S = 5.0  # seconds past the grace period before draining workers are killed
TICK_S = 0.05  # seconds between checks of the workers


@dataclass(frozen=True)
class RestartPolicy:
    """When dead workers are replaced: ``limit`` crashes within ``window`` seconds make the
    parent give up (default 5 in 60 s); the n-th crash in the window waits
    ``backoff * 2 ** (n - 2)`` seconds (the first: none) and at most ``max_backoff`` (0.5 s,
    10 s) before its replacement starts."""

    limit: int = 5
    window: float = 60.0
    backoff: float = 0.5
    max_backoff: float = 10.0

    def delay(self, crashes: int) -> float:
        """Seconds to wait before replacing the ``crashes``-th crash in the window."""
        if crashes <= 1:
            return 0.0
        return min(self.backoff * 2 ** (crashes - 2), self.max_backoff)


class Spawns(Protocol):
    read_fd: int

    def spawn(self) -> subprocess.Popen: ...

    def ready_pids(self) -> list[int]: ...


def log(message: str) -> None:
    print(f"triptych serve: {message}", file=sys.stderr, flush=True)


def why(returncode: int) -> str:
    """'killed by SIGKILL' / 'exited with code 1'."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


class Supervisor:
    """Runs ``workers`` processes from ``spawner`` under ``policy``; ``grace``: seconds of a
    drain; ``on_stop``: called when a drain starts."""

    def __init__(
        self,
        spawner: Spawns,
        workers: int,
        policy: RestartPolicy,
        grace: float,
        on_stop: Callable[[], None] = lambda: None,
    ) -> None:
        self.spawner, self.policy, self.grace, self.on_stop = spawner, policy, grace, on_stop
        self.slots: list[subprocess.Popen | None] = [None] * workers
        self.due: dict[int, float] = {}  # slot -> monotonic time its replacement starts
        self.crashes: deque[float] = deque()
        self.ever_ready = False
        self.signals = 0

    def _start(self, slot: int) -> None:
        proc = self.spawner.spawn()
        self.slots[slot] = proc
        log(f"worker {slot + 1} started (pid {proc.pid})")

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.signals += 1
        if self.signals > 1:  # the second signal: at once
            self._kill_all()
            log(f"second {signal.Signals(signum).name}: workers killed")
            raise SystemExit(128 + signum)
        log(f"{signal.Signals(signum).name}: draining (grace {self.grace:g} s)")
        self.on_stop()
        for proc in self.slots:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signum)

    def _kill_all(self) -> None:
        for proc in self.slots:
            if proc is not None and proc.poll() is None:
                proc.kill()

    def run(self) -> int:
        """Supervise until a signal (0 once the workers have drained) or a give-up (1)."""
        handled = (signal.SIGINT, signal.SIGTERM)
        old = {s: signal.signal(s, self._on_signal) for s in handled}
        try:
            for slot in range(len(self.slots)):
                self._start(slot)
            code = self._watch()
            if code is None:
                self._drain()
                return 0
            self._stop_all()
            return code
        except BaseException:
            self._kill_all()
            raise
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def _watch(self) -> int | None:
        """Replace dead workers until a signal (None) or a give-up (1)."""
        while not self.signals:
            select.select([self.spawner.read_fd], [], [], TICK_S)
            self._log_ready(self.spawner.ready_pids())
            now = time.monotonic()
            for slot, proc in enumerate(self.slots):
                if proc is not None and proc.poll() is not None and not self.signals:
                    code = self._died(slot, proc, now)
                    if code is not None:
                        return code
            for slot, at in list(self.due.items()):
                if now >= at and not self.signals:
                    del self.due[slot]
                    self._start(slot)
        return None

    def _log_ready(self, pids: list[int]) -> None:
        for slot, proc in enumerate(self.slots):
            if proc is not None and proc.pid in pids:
                self.ever_ready = True
                log(f"worker {slot + 1} (pid {proc.pid}) ready")

    def _died(self, slot: int, proc: subprocess.Popen, now: float) -> int | None:
        """Schedule the replacement of a dead worker; 1 when it is time to give up."""
        self._log_ready(self.spawner.ready_pids())
        self.slots[slot] = None
        what = f"worker {slot + 1} (pid {proc.pid}) {why(proc.returncode)}"
        if not self.ever_ready:
            log(f"{what} before any worker was ready: giving up (see its error above)")
            return 1
        self.ever_ready = True
        self.crashes.append(now)
        while self.crashes and self.crashes[0] < now - self.policy.window:
            self.crashes.popleft()
        n, p = len(self.crashes), self.policy
        if n >= p.limit:
            log(f"{what}; {n} crashes in {p.window:g} s: crash loop, giving up")
            return 1
        delay = p.delay(n)
        log(f"{what}; replacing it in {delay:g} s ({n} of {p.limit} crashes in {p.window:g} s)")
        self.due[slot] = now + delay
        return None

    def _drain(self) -> None:
        """Wait for the signalled workers to finish (SIGKILL after the grace period)."""
        deadline = time.monotonic() + self.grace + EXIT_SLACK_S
        for proc in self.slots:
            if proc is None:
                continue
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"worker pid {proc.pid} still running after the grace period: killed")
                proc.kill()
                proc.wait()
        log("drained, exiting")

    def _stop_all(self) -> None:
        for proc in self.slots:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in self.slots:
            if proc is None:
                continue
            try:
                proc.wait(self.grace + EXIT_SLACK_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
