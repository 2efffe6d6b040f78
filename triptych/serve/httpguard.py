"""uvicorn's httptools protocol with the limits it lacks: `connguard`'s header timeout,
write timeout and drain, and a header size cap (llhttp does not bound header size): a
connection whose pending headers pass ``max_header_bytes`` (default 64 KiB) gets 431 and is
closed. Requests httptools cannot parse get 400 with a JSON ``{"error": msg}`` like every
other error. Body reads are bounded in the ASGI layer (`triptych.serve.body`).

Writes are coalesced (`CoalescingTransport`): uvicorn writes a response's head and its body
separately, two ``write`` syscalls and two TCP segments per response on a TCP_NODELAY socket;
here everything written in one event-loop iteration leaves in one write. On loopback with a
small model that write was the most sampled place of the whole server (py-spy).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from triptych.serve import inflight
from triptych.serve.connguard import ConnectionGuard


class CoalescingTransport:
    """A transport proxy that joins the writes made in one event-loop iteration into one
    ``write`` at the end of it (``close`` sends what is pending first); every other attribute
    is the wrapped transport's."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._pending = []
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedHttpToolsProtocol(ConnectionGuard, HttpToolsProtocol):
    """`HttpToolsProtocol` + `ConnectionGuard` (header timeout, write timeout, drain) + header
    size cap (limits in seconds and bytes: see `with_limits`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard_init()
        self._in_flight = 0  # requests of this connection counted in `inflight.HTTP`

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard_lost()
        inflight.HTTP.value -= self._in_flight
        self._in_flight = 0
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._awaiting_headers or self.transport.is_closing():
            return
        self._header_bytes += len(data)
        if self._header_bytes > self.max_header_bytes:
            self._reply_and_close(b"431 Request Header Fields Too Large", "headers over the limit")

    def send_400_response(self, msg: str) -> None:
        """A request httptools cannot parse: 400 with a JSON error (uvicorn sends text)."""
        self._reply_and_close(b"400 Bad Request", f"invalid HTTP request: {msg}")

    def _reply_and_close(self, status: bytes, message: str) -> None:
        self._cancel()
        body = json.dumps({"error": message}).encode()
        self.transport.write(
            b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body
        )
        self.transport.close()

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._cancel()
        super().on_headers_complete()
        self._headers_done()
        self._in_flight += 1
        inflight.HTTP.value += 1

    def on_response_complete(self) -> None:
        if self._in_flight:
            self._in_flight -= 1
            inflight.HTTP.value -= 1
        super().on_response_complete()
        in_flight = self.cycle is not None and not self.cycle.response_complete
        if not self.transport.is_closing() and not in_flight:
            self._arm()
