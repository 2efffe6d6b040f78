"""uvicorn settings for the server, running HTTP (and gRPC beside it, in the same process
so both share one dynamic batcher per model) in the foreground (`run_servers`) or in a
background thread (`serving`: tests, the tour, the load test).

`uvicorn_config` picks httptools (with `httpguard`'s header timeout and size cap) and uvloop
when they are installed (the ``serve`` extra pins both), h11 and asyncio otherwise, and sets
the connection limits in `Limits`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

HAVE_HTTPTOOLS = importlib.util.find_spec("httptools") is not None
HAVE_UVLOOP = importlib.util.find_spec("uvloop") is not None
if HAVE_HTTPTOOLS:  # httpguard subclasses uvicorn's httptools protocol
    from triptych.serve.httpguard import GuardedHttpToolsProtocol
if HAVE_UVLOOP:
    import uvloop


@dataclass(frozen=True)
class Limits:
    """Connection limits. ``header_timeout``: seconds to receive a request's headers (10);
    ``keep_alive``: seconds an idle keep-alive connection stays open (5); ``max_connections``:
    open connections + running requests before new requests get 503 (1024);
    ``max_header_bytes``: request header bytes (64 KiB)."""

    header_timeout: float = 10.0
    keep_alive: int = 5
    max_connections: int = 1024
    max_header_bytes: int = 64 << 10


def uvicorn_config(
    app: Any, host: str, port: int, limits: Limits = Limits(), log_level: str = "warning"
) -> uvicorn.Config:
    """A uvicorn `Config` for ``app`` on ``host:port`` with these limits."""
    http: Any = (
        GuardedHttpToolsProtocol.with_limits(limits.header_timeout, limits.max_header_bytes)
        if HAVE_HTTPTOOLS
        else "h11"
    )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=http,
        loop="uvloop" if HAVE_UVLOOP else "asyncio",
        log_level=log_level,
        access_log=False,
        lifespan="off",
        server_header=False,
        proxy_headers=False,  # no X-Forwarded-* rewriting: one middleware less per request
        timeout_keep_alive=limits.keep_alive,
        limit_concurrency=limits.max_connections,
        h11_max_incomplete_event_size=limits.max_header_bytes,
    )


def new_loop() -> asyncio.AbstractEventLoop:
    """A uvloop event loop when uvloop is installed, else asyncio's."""
    return uvloop.new_event_loop() if HAVE_UVLOOP else asyncio.new_event_loop()


async def serve_async(
    server: uvicorn.Server,
    sockets: list[socket.socket] | None = None,
    grpc_factory: Callable[[], Any] | None = None,
) -> None:
    """Run ``server`` (HTTP) until it exits, with the gRPC server that ``grpc_factory`` makes
    (grpcio's threaded server) started before and stopped after it (1 s grace)."""
    grpc_server = grpc_factory() if grpc_factory is not None else None
    if grpc_server is not None:
        grpc_server.start()
    try:
        await server.serve(sockets=sockets)
    finally:
        if grpc_server is not None:
            await asyncio.to_thread(grpc_server.stop(1.0).wait, 5.0)


def run_servers(
    server: uvicorn.Server,
    sockets: list[socket.socket] | None = None,
    grpc_factory: Callable[[], Any] | None = None,
) -> None:
    """`serve_async` on a new (uvloop) event loop, blocking until the server exits."""
    with asyncio.Runner(loop_factory=new_loop) as runner:
        runner.run(serve_async(server, sockets, grpc_factory))


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextmanager
def serving(
    app: Any,
    host: str = "127.0.0.1",
    port: int | None = None,
    timeout: float = 30.0,
    limits: Limits = Limits(),
    grpc_factory: Callable[[], Any] | None = None,
) -> Iterator[str]:
    """Serve ``app`` on a real loopback socket until the block exits; yields "host:port".
    ``timeout``: seconds to wait for start and for shutdown; ``grpc_factory``: makes a gRPC
    server (bound already) to run beside HTTP."""
    port = port or free_port(host)
    server = uvicorn.Server(uvicorn_config(app, host, port, limits, log_level="error"))
    thread = threading.Thread(target=run_servers, args=(server, None, grpc_factory), daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
