"""`triptych serve PATH`: ONNX models over the Open Inference Protocol (KServe v2).

PATH is one .onnx file, a directory of them, or a Triton model repository. Endpoints:
/v2/health/live|ready, /v2, /v2/models/{m}[/versions/{v}][/ready|/infer], /metrics.
Requests that arrive while a model is busy are merged into one batch (Triton-style dynamic
batching; a request that finds the model idle runs at once).
"""

from __future__ import annotations

import argparse
import socket
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve ONNX models (KServe v2 over HTTP)", description=__doc__)
    p.add_argument("path", help=".onnx file, directory of them, or Triton repository")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port, 1..65535 (default 8000)")
    p.add_argument(
        "--max-batch",
        type=int,
        default=256,
        help="largest batch per request and per merged batch, >= 1 (default 256)",
    )
    p.add_argument(
        "--max-delay-ms",
        type=float,
        default=0.0,
        help="how long a batch formed while the model was busy may wait to fill, in ms, "
        ">= 0 (default 0; an idle model never waits)",
    )
    p.add_argument(
        "--no-batching", action="store_true", help="run every request alone (no merging)"
    )
    p.add_argument("--threads", type=int, help="onnxruntime intra-op threads per session, >= 1")
    p.add_argument(
        "--max-body-mb", type=float, default=64.0, help="request body limit in MiB (default 64)"
    )
    p.set_defaults(func=run)


def check_args(args: argparse.Namespace) -> None:
    """ValueError (one line, exit 2) for flags out of range, before anything starts."""
    if not 1 <= args.port <= 65535:
        raise ValueError(f"--port must be in 1..65535, got {args.port}")
    if args.max_batch < 1:
        raise ValueError(f"--max-batch must be >= 1, got {args.max_batch}")
    if not args.max_delay_ms >= 0 or args.max_delay_ms == float("inf"):
        raise ValueError(f"--max-delay-ms must be a finite number >= 0, got {args.max_delay_ms}")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if not 0 < args.max_body_mb < float("inf"):
        raise ValueError(f"--max-body-mb must be > 0, got {args.max_body_mb}")


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on ``host:port``; ValueError (one line) when it is taken."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise ValueError(f"cannot bind {host}:{port}: {e.strerror}") from None
    family = infos[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(infos[0][4])
    except OSError as e:
        sock.close()
        raise ValueError(f"cannot bind {host}:{port}: {e.strerror or e}") from None
    return sock


def run(args: argparse.Namespace) -> int:
    check_args(args)
    sock = bind(args.host, args.port)
    try:
        # lazy, like every command: uvicorn and onnxruntime load only for `serve`
        import uvicorn

        from triptych.serve.app import ServeConfig, create_app
        from triptych.serve.repository import Repository
        from triptych.serve.server import uvicorn_config

        repo = Repository.from_path(args.path, threads=args.threads)
        config = ServeConfig(
            max_batch=args.max_batch,
            batching=not args.no_batching,
            max_delay_ms=args.max_delay_ms,
            max_body=int(args.max_body_mb * (1 << 20)),
        )
        app = create_app(repo, config)
        server = uvicorn.Server(uvicorn_config(app, args.host, args.port))
        print(f"serving {', '.join(sorted(repo.models))} on http://{args.host}:{args.port}")
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0
