"""The open ModelStreamInfer streams of a gRPC server, so that idle streams cannot lock other
clients out.

Each open stream holds one of grpcio's handler threads while it waits for its next request,
so their number is capped (`StreamTable.limit` in all, `StreamTable.per_client` per client,
a client being one connection: its peer address). Three rules keep the places for streams
that work:

- a stream idle (no request being answered) for ``idle_s`` seconds is closed (a reaper
  thread, running while streams are open, checks every ``min(idle_s / 2, 1)`` seconds);
- a new stream that finds every place taken closes the longest idle stream, when that one
  has been idle for ``evict_after_s`` seconds at least, and takes its place; otherwise it is
  refused with RESOURCE_EXHAUSTED (all streams are working);
- at a graceful shutdown (`drain`) idle streams close at once and busy ones after the answer
  they are computing.

A closed stream's client sees the call end with a status (UNAVAILABLE and the reason where
grpcio lets the server say it, else CANCELLED); its handler thread is free at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(eq=False)
class Stream:
    """One open stream: ``client`` (peer address), ``close(reason)`` ends it from any thread,
    ``busy`` while a request of it is being answered, ``idle_since`` (monotonic seconds)."""

    client: str
    close: Callable[[str], None]
    busy: bool = False
    idle_since: float = field(default_factory=time.monotonic)
    closing: bool = False


class StreamTable:
    """At most ``limit`` open streams, ``per_client`` per client; ``idle_s``: seconds a stream
    may wait for a request (default 60); ``evict_after_s``: idle seconds after which a stream
    gives its place to a new one when the table is full (default 1)."""

    def __init__(
        self, limit: int, per_client: int, idle_s: float = 60.0, evict_after_s: float = 1.0
    ) -> None:
        self.limit, self.per_client = limit, per_client
        self.idle_s, self.evict_after_s = idle_s, evict_after_s
        self.open_streams: list[Stream] = []
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        self.reaper: threading.Thread | None = None
        self.draining = False
        self.closed_idle = 0  # streams closed for idleness (timeout or eviction), in all

    def __len__(self) -> int:
        return len(self.open_streams)

    def open(self, client: str, close: Callable[[str], None]) -> Stream | str:
        """A place for a new stream of ``client``, or the reason it is refused."""
        victim = None
        with self.lock:
            if self.draining:
                return "the server is shutting down"
            mine = sum(s.client == client for s in self.open_streams)
            if mine >= self.per_client:
                return (
                    f"this client has {mine} ModelStreamInfer streams open already (the most "
                    "per client); send more requests on them, or close one"
                )
            if len(self.open_streams) >= self.limit:
                victim = self._longest_idle(time.monotonic() - self.evict_after_s)
                if victim is None:
                    return (
                        f"{self.limit} ModelStreamInfer streams are open and working (the most "
                        "at once); close one, or send ModelInfer calls"
                    )
                victim.closing = True
                self.closed_idle += 1
                self._forget(victim)
            stream = Stream(client, close)
            self.open_streams.append(stream)
            if self.reaper is None:
                self.reaper = threading.Thread(target=self._reap, name="stream-reaper", daemon=True)
                self.reaper.start()
        if victim is not None:
            victim.close(
                f"closed after {self.evict_after_s:g} s idle to make room for a new stream"
            )
        return stream

    def release(self, stream: Stream) -> None:
        """The stream ended (its handler returns)."""
        with self.lock:
            self._forget(stream)

    def start(self, stream: Stream) -> bool:
        """A request arrived on ``stream``: False when the stream is closing (do not answer)."""
        with self.lock:
            stream.busy = True
            return not stream.closing

    def done(self, stream: Stream) -> bool:
        """The request is answered: False when the stream should end now (a drain)."""
        with self.lock:
            stream.busy, stream.idle_since = False, time.monotonic()
            return not (self.draining or stream.closing)

    def drain(self) -> None:
        """Graceful shutdown: refuse new streams, close the idle ones now."""
        with self.lock:
            self.draining = True
            idle = [s for s in self.open_streams if not s.busy]
            for s in idle:
                s.closing = True
        for s in idle:
            s.close("the server is shutting down")

    def _longest_idle(self, before: float) -> Stream | None:
        idle = [s for s in self.open_streams if not s.busy and s.idle_since <= before]
        return min(idle, key=lambda s: s.idle_since, default=None)

    def _forget(self, stream: Stream) -> None:
        if stream in self.open_streams:
            self.open_streams.remove(stream)
        self.wake.notify_all()

    def _reap(self) -> None:
        """Close streams idle for ``idle_s``; ends when no stream is open."""
        tick = max(0.01, min(self.idle_s / 2, 1.0))
        while True:
            with self.lock:
                if not self.open_streams:
                    self.reaper = None
                    return
                stale = self._stale(time.monotonic() - self.idle_s)
                if not stale:
                    self.wake.wait(tick)
                    continue
            for s in stale:
                s.close(f"idle for {self.idle_s:g} s (no request)")

    def _stale(self, before: float) -> list[Stream]:
        stale = [s for s in self.open_streams if not s.busy and s.idle_since <= before]
        for s in stale:
            self.open_streams.remove(s)
            s.closing = True
        self.closed_idle += len(stale)
        return stale
