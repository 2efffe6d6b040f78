"""uvicorn settings for the server, running HTTP (and gRPC beside it, in the same process
so both share one dynamic batcher per model) in the foreground (`run_servers`) or in a
background thread (`serving`: tests, the tour, the load test).

`uvicorn_config` picks httptools (`httpguard`) and uvloop when they are installed (the
``serve`` extra pins both), h11 (`h11guard`) and asyncio otherwise; both HTTP protocols get
the header timeout, write timeout and header size cap of `Limits`.

Graceful drain (`DrainingServer`): the first SIGTERM or SIGINT stops accepting (HTTP and
gRPC), answers every request already received (for at most ``grace`` seconds) and exits; a
second signal exits at once.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

from triptych.serve.h11guard import GuardedH11Protocol

HAVE_HTTPTOOLS = importlib.util.find_spec("httptools") is not None
HAVE_UVLOOP = importlib.util.find_spec("uvloop") is not None
if HAVE_HTTPTOOLS:  # httpguard subclasses uvicorn's httptools protocol
    from triptych.serve.httpguard import GuardedHttpToolsProtocol
if HAVE_UVLOOP:
    import uvloop

SETTLE_S = 0.05  # seconds between closing the listeners and closing idle connections


@dataclass(frozen=True)
class Limits:
    """Connection limits. ``header_timeout``: seconds to receive a request's headers (10);
    ``keep_alive``: seconds an idle keep-alive connection stays open (5); ``max_connections``:
    open connections + running requests before new requests get 503 (1024);
    ``max_header_bytes``: request header bytes (64 KiB); ``write_timeout``: seconds a
    response may wait for a client that stops reading before the connection is dropped (30);
    ``grace``: seconds a graceful shutdown waits for running requests (30); ``http``:
    "auto" (httptools when installed, else h11) or "h11"."""

    header_timeout: float = 10.0
    keep_alive: int = 5
    max_connections: int = 1024
    max_header_bytes: int = 64 << 10
    write_timeout: float = 30.0
    grace: float = 30.0
    http: str = "auto"


def uvicorn_config(
    app: Any, host: str, port: int, limits: Limits = Limits(), log_level: str = "warning"
) -> uvicorn.Config:
    """A uvicorn `Config` for ``app`` on ``host:port`` with these limits."""
    guard = GuardedHttpToolsProtocol if HAVE_HTTPTOOLS and limits.http == "auto" else None
    http: Any = (guard or GuardedH11Protocol).with_limits(
        limits.header_timeout, limits.max_header_bytes, limits.write_timeout
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
        timeout_graceful_shutdown=limits.grace,
    )


class DrainingServer(uvicorn.Server):
    """`uvicorn.Server` with a graceful drain that covers gRPC too: at the first SIGTERM or
    SIGINT it stops accepting (HTTP listeners closed, ``on_drain`` called: the gRPC server's
    ``stop(grace)``), closes idle connections after `SETTLE_S` (requests already on the wire
    are read first), answers every request it has received for at most
    ``config.timeout_graceful_shutdown`` seconds, then exits; a second signal exits the
    process at once (exit status 128 + signal number). ``on_ready`` is called once the
    listeners accept."""

    def __init__(
        self,
        config: uvicorn.Config,
        on_ready: Callable[[], None] | None = None,
        on_drain: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config)
        self.on_ready, self.on_drain = on_ready, on_drain

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self.should_exit and sig in (signal.SIGINT, signal.SIGTERM):
            os._exit(128 + sig)  # the second signal: now, whatever is running
        super().handle_exit(sig, frame)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_ready is not None:
            self.on_ready()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        if self.on_drain is not None:
            self.on_drain()
        await asyncio.sleep(SETTLE_S)  # requests already on the wire land before idle closes
        await super().shutdown(sockets)


def new_loop() -> asyncio.AbstractEventLoop:
    """A uvloop event loop when uvloop is installed, else asyncio's."""
    return uvloop.new_event_loop() if HAVE_UVLOOP else asyncio.new_event_loop()


async def serve_async(
    server: uvicorn.Server,
    sockets: list[socket.socket] | None = None,
    grpc_factory: Callable[[], Any] | None = None,
) -> None:
    """Run ``server`` (HTTP) until it exits, with the gRPC server that ``grpc_factory`` makes
    (grpcio's threaded server) started before it. gRPC stops accepting when HTTP does (a
    `DrainingServer`'s drain, else when HTTP has exited) and gets the same grace period for
    the calls it is running."""
    grpc_server = grpc_factory() if grpc_factory is not None else None
    grace = server.config.timeout_graceful_shutdown or 1.0
    stopped: list[Any] = []

    def stop_grpc() -> None:
        if grpc_server is not None and not stopped:
            stopped.append(grpc_server.stop(grace))

    if grpc_server is not None:
        grpc_server.start()
        if isinstance(server, DrainingServer):
            server.on_drain = stop_grpc
    try:
        await server.serve(sockets=sockets)
    finally:
        stop_grpc()
        if stopped:
            await asyncio.to_thread(stopped[0].wait, grace + 5.0)


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
    server = DrainingServer(uvicorn_config(app, host, port, limits, log_level="error"))
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
