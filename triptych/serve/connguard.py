"""Timers that uvicorn's HTTP protocols lack, shared by `httpguard` (httptools) and
`h11guard` (h11): a header timeout, a write timeout and a drain that keeps half-received
requests.

- Header timeout: a connection that has not completed a request's headers ``header_timeout``
  seconds (default 10) after it opened or after its last response is closed (uvicorn's
  keep-alive timer stops at the first byte of a request, so a client that sends half a
  request line and stalls would hold the connection forever).
- Write timeout: when a client stops reading, the transport's buffer fills and uvicorn's
  flow control pauses the response; a connection still paused ``write_timeout`` seconds
  (default 30) later is aborted, which frees the request's task and its buffers.
- Drain: at a graceful shutdown, a connection in the middle of receiving a request's headers
  is kept until that request is answered (then closed); idle ones close at once.
"""

from __future__ import annotations

import asyncio
from typing import Any


class ConnectionGuard:
    """Mixin for a uvicorn HTTP protocol class (listed before it). The protocol calls
    `_headers_started` / `_headers_done` as a request's head arrives; everything else hooks
    uvicorn's own callbacks."""

    header_timeout: float = 10.0
    max_header_bytes: int = 64 << 10
    write_timeout: float = 30.0
    loop: asyncio.AbstractEventLoop
    transport: Any
    cycle: Any

    def _guard_init(self) -> None:
        self._header_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._awaiting_headers = True
        self._header_bytes = 0
        self._draining = False

    @classmethod
    def with_limits(
        cls, header_timeout: float, max_header_bytes: int, write_timeout: float = 30.0
    ) -> type:
        """A subclass with these limits (uvicorn takes a protocol class, not an instance):
        seconds, bytes, seconds."""
        limits = {
            "header_timeout": header_timeout,
            "max_header_bytes": max_header_bytes,
            "write_timeout": write_timeout,
        }
        return type(cls.__name__, (cls,), limits)

    def _arm(self) -> None:
        """Start waiting for the next request's headers."""
        self._cancel()
        self._awaiting_headers, self._header_bytes = True, 0
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _cancel(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        if self._awaiting_headers and not self.transport.is_closing():
            self.transport.close()

    def _headers_done(self) -> None:
        """A request's head is complete: no header timer; closed after it when draining."""
        self._awaiting_headers = False
        self._cancel()
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False

    def _guard_lost(self) -> None:
        self._cancel()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def pause_writing(self) -> None:
        """The transport's buffer is full: the client has this long to read."""
        super().pause_writing()  # type: ignore[misc]
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self.write_timeout, self._write_timed_out)

    def resume_writing(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        super().resume_writing()  # type: ignore[misc]

    def _write_timed_out(self) -> None:
        self._write_timer = None
        if not self.transport.is_closing():
            self.transport.abort()  # close() would wait for the buffer to drain: it never does

    def shutdown(self) -> None:
        """Graceful shutdown: a request whose headers are arriving is answered first."""
        if self._awaiting_headers and self._header_bytes > 0 and not self.transport.is_closing():
            self._draining = True
            return
        self._draining = True
        super().shutdown()  # type: ignore[misc]
