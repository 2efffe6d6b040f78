"""Start `triptych serve` in this process: load the models, build the app and run HTTP (and
gRPC beside it when asked) until SIGINT/SIGTERM (a graceful drain, `server.DrainingServer`).
`workers` runs several of these under a supervisor."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from triptych.serve.app import ServeConfig, create_app
from triptych.serve.grpc_server import create_grpc_server
from triptych.serve.repository import Repository
from triptych.serve.server import DrainingServer, Limits, run_servers, uvicorn_config


@dataclass(frozen=True)
class ServeSpec:
    """What one server process serves. ``port``/``grpc_port``: TCP ports (``grpc_port`` None:
    no gRPC); ``threads``: onnxruntime intra-op threads per session (None: onnxruntime's
    default); ``max_body``: bytes; ``grace``: seconds a SIGTERM/SIGINT drain waits for
    running requests (30); ``header_timeout``/``write_timeout``: seconds (10/30, see
    `Limits`); ``stream_idle``: seconds a ModelStreamInfer stream may stay idle (60);
    ``poll``: seconds between scans of ``path`` for changed models (None: no polling);
    ``workers``: processes serving it (the repository API's load/unload needs 1); the rest
    as in `ServeConfig`."""

    path: str
    host: str = "127.0.0.1"
    port: int = 8000
    grpc_port: int | None = None
    threads: int | None = None
    max_batch: int = 256
    batching: bool = True
    max_delay_ms: float = 0.0
    instances: int = 1
    max_body: int = 64 << 20
    grace: float = 30.0
    header_timeout: float = 10.0
    write_timeout: float = 30.0
    stream_idle: float = 60.0
    poll: float | None = None
    workers: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def config(self) -> ServeConfig:
        return ServeConfig(
            max_batch=self.max_batch,
            batching=self.batching,
            max_delay_ms=self.max_delay_ms,
            instances=self.instances,
            max_body=self.max_body,
            stream_idle_s=self.stream_idle,
            repository_api=self.workers == 1,
        )

    def limits(self) -> Limits:
        return Limits(
            header_timeout=self.header_timeout, write_timeout=self.write_timeout, grace=self.grace
        )


def bind(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """A socket bound to ``host:port`` (SO_REUSEADDR; SO_REUSEPORT too when ``reuse_port``,
    so that several processes share the port); ValueError (one line) when it is taken."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise ValueError(f"cannot bind {host}:{port}: {e.strerror}") from None
    sock = socket.socket(infos[0][0], socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(infos[0][4])
    except OSError as e:
        sock.close()
        raise ValueError(f"cannot bind {host}:{port}: {e.strerror or e}") from None
    return sock


def serve_forever(
    spec: ServeSpec,
    sock: socket.socket,
    reuse_port: bool = False,
    banner: bool = True,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Load ``spec``'s models and serve HTTP on ``sock`` (bound) and gRPC on
    ``spec.grpc_port`` until SIGINT/SIGTERM. ``reuse_port``: the gRPC port is shared with
    other workers; ``on_ready``: called once HTTP accepts."""
    repo = Repository.from_path(spec.path, threads=spec.threads)
    app = create_app(repo, spec.config())
    if spec.poll is not None:
        app.state.core.reloader.start_polling(spec.poll)
    config = uvicorn_config(app, spec.host, spec.port, spec.limits())
    server = DrainingServer(config, on_ready=on_ready)
    grpc_factory = None
    if spec.grpc_port is not None:
        grpc_port = spec.grpc_port

        def grpc_factory() -> Any:
            return create_grpc_server(app.state.core, spec.host, grpc_port, reuse_port)

    if banner:
        where = f"http://{spec.host}:{spec.port}"
        if spec.grpc_port is not None:
            where += f" and grpc {spec.host}:{spec.grpc_port}"
        print(f"serving {', '.join(sorted(repo.models))} on {where}", flush=True)
    run_servers(server, [sock], grpc_factory)
