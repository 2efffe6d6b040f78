"""uvicorn's h11 protocol (the fallback when httptools is not installed) with the limits of
`connguard`: header timeout, write timeout and a drain that keeps half-received requests.
Its header size cap is h11's own (``h11_max_incomplete_event_size``, set by
`server.uvicorn_config`)."""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from triptych.serve.connguard import ConnectionGuard


class GuardedH11Protocol(ConnectionGuard, H11Protocol):
    """`H11Protocol` + `ConnectionGuard` (limits in seconds and bytes: see `with_limits`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard_init()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard_lost()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._awaiting_headers and self.conn.their_state is not h11.IDLE:
            self._headers_done()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE:  # waiting for the next request's head
            self._arm()
        elif self._awaiting_headers:  # a pipelined request started in the same call
            self._headers_done()
