"""Read an HTTP request body from the ASGI ``receive`` channel, bounded while reading.

The size limit is enforced as the bytes arrive, chunked or not: a declared Content-Length over
the limit is refused before one body byte is read, and a chunked body is refused as soon as it
passes the limit, so the server never buffers more than ``limit`` bytes (uvicorn itself pauses
the socket once 64 KiB wait unread). Each wait for the next piece has a timeout, so a client
that stops sending mid-body is answered 408 and closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from triptych.serve.errors import ServeError

Receive = Callable[[], Awaitable[dict[str, Any]]]


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length header as an int (None when absent; 400 when not ASCII digits)."""
    for key, value in headers:
        if key == b"content-length":
            if not (value.isdigit() and len(value) <= 19):
                raise ServeError(400, f"Content-Length must be ASCII digits, got {value[:40]!r}")
            return int(value)
    return None


async def read_body(
    receive: Receive, headers: list[tuple[bytes, bytes]], limit: int, timeout: float
) -> bytearray:
    """The whole body (at most ``limit`` bytes, else 413); ``timeout`` seconds per piece
    (else 408); a client that disconnects gets 400 (nobody reads it)."""
    declared = declared_length(headers)
    if declared is not None and declared > limit:
        raise ServeError(413, f"body of {declared} bytes is over the limit {limit}")
    body = bytearray(declared or 0)  # filled in place when the length is known: no copies
    view, filled, more = memoryview(body), 0, True
    # A chunked body is kept as its pieces and joined once at the end: growing one buffer
    # piece by piece reallocates it, and below glibc's mmap threshold (up to 32 MiB) every old
    # copy stays resident, which took a refused 64 MiB body to 285 MB of RSS.
    pieces: list[bytes] = []
    while more:
        try:
            async with asyncio.timeout(timeout):  # no task per piece, unlike wait_for
                message = await receive()
        except TimeoutError:
            raise ServeError(408, f"no body bytes for {timeout:g} s") from None
        if message["type"] == "http.disconnect":
            raise ServeError(400, "the client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        end = filled + len(chunk)
        if end > limit:
            raise ServeError(413, f"body of more than {limit} bytes is over the limit {limit}")
        if end <= len(body):
            view[filled:end] = chunk
        else:  # chunked (or a server that let more through than declared)
            pieces.append(chunk)
        filled = end
        more = message.get("more_body", False)
    view.release()
    if not pieces:
        del body[filled:]
        return body
    whole = bytearray(filled)  # one allocation, the pieces copied in once
    start = filled - sum(map(len, pieces))
    whole[:start] = memoryview(body)[:start]
    for piece in pieces:
        whole[start : start + len(piece)] = piece
        start += len(piece)
    return whole
