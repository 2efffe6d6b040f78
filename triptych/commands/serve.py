"""`triptych serve PATH`: ONNX models over the Open Inference Protocol (KServe v2).

PATH is one .onnx file, a directory of them, or a Triton model repository. Endpoints:
/v2/health/live|ready, /v2, /v2/models/{m}[/versions/{v}][/ready|/infer], /metrics; with
--grpc-port, the KServe v2 gRPC service (inference.GRPCInferenceService, with Triton's
ModelStreamInfer) beside HTTP.
Requests that arrive while a model is busy are merged into one batch (Triton-style dynamic
batching; a request that finds the model idle runs at once).
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serve", help="serve ONNX models (KServe v2 over HTTP and gRPC)", description=__doc__
    )
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
        "--instances",
        type=int,
        default=1,
        help="runs of one model that may be in progress at once, each with its merged batch "
        "(Triton's instance_group count), >= 1 (default 1; on 2 cores, 2 gained nothing on "
        "resnet18: benchmarks/loadgen)",
    )
    p.add_argument(
        "--no-batching", action="store_true", help="run every request alone (no merging)"
    )
    p.add_argument(
        "--threads",
        type=int,
        help="onnxruntime intra-op threads per session, >= 1 (default: onnxruntime's, one per "
        "core; idle threads sleep instead of spinning, so they leave the cores to requests)",
    )
    p.add_argument(
        "--max-body-mb", type=float, default=64.0, help="request body limit in MiB (default 64)"
    )
    p.add_argument(
        "--grpc-port",
        type=int,
        help="also serve KServe v2 gRPC on this port, with Triton's ModelStreamInfer stream "
        "(tritonclient.grpc's start_stream), 1..65535 (default: no gRPC; Triton uses 8001)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port(s) with SO_REUSEPORT, each with its own "
        "sessions and batcher, supervised (a dead worker is replaced), >= 1 (default 1; "
        "--threads defaults to max(1, cores // N)). "
        "Use one per core for small, fast models at high request rates, where the server's "
        "Python, not the model, fills a core",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=30.0,
        help="seconds SIGTERM/SIGINT waits for the requests already received (default 30; a "
        "second signal exits at once)",
    )
    p.add_argument(
        "--poll",
        type=float,
        metavar="SECONDS",
        help="reload model folders whose files changed, every SECONDS (default: off; the "
        "repository API's load/unload works without it, with one worker)",
    )
    p.add_argument(
        "--header-timeout", type=float, default=10.0, help="seconds for request headers (10)"
    )
    p.add_argument(
        "--write-timeout",
        type=float,
        default=30.0,
        help="seconds a client that stops reading keeps its connection (30)",
    )
    p.add_argument(
        "--stream-idle",
        type=float,
        default=60.0,
        help="seconds a gRPC ModelStreamInfer stream may stay idle (60)",
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
    if args.grpc_port is not None and not 1 <= args.grpc_port <= 65535:
        raise ValueError(f"--grpc-port must be in 1..65535, got {args.grpc_port}")
    if args.grpc_port is not None and args.grpc_port == args.port:
        raise ValueError(f"--grpc-port must differ from --port ({args.port})")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.instances < 1:
        raise ValueError(f"--instances must be >= 1, got {args.instances}")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if not 0 < args.max_body_mb < float("inf"):
        raise ValueError(f"--max-body-mb must be > 0, got {args.max_body_mb}")
    for flag in ("grace", "header_timeout", "write_timeout", "stream_idle"):
        value = getattr(args, flag)
        if not 0 < value < float("inf"):
            raise ValueError(f"--{flag.replace('_', '-')} must be > 0 seconds, got {value}")
    if args.poll is not None and not 0 < args.poll < float("inf"):
        raise ValueError(f"--poll must be > 0 seconds, got {args.poll}")


def run(args: argparse.Namespace) -> int:
    check_args(args)
    # lazy, like every command: uvicorn, grpc and onnxruntime load only for `serve`
    from triptych.serve.launch import ServeSpec, bind, serve_forever
    from triptych.serve.workers import default_threads, run_workers

    threads = args.threads
    if threads is None and args.workers > 1:
        threads = default_threads(args.workers)
    spec = ServeSpec(
        path=args.path,
        host=args.host,
        port=args.port,
        grpc_port=args.grpc_port,
        threads=threads,
        max_batch=args.max_batch,
        batching=not args.no_batching,
        max_delay_ms=args.max_delay_ms,
        instances=args.instances,
        max_body=int(args.max_body_mb * (1 << 20)),
        grace=args.grace,
        poll=args.poll,
        header_timeout=args.header_timeout,
        write_timeout=args.write_timeout,
        stream_idle=args.stream_idle,
    )
    if args.workers > 1:
        return run_workers(spec, args.workers)
    sock = bind(args.host, args.port)
    if args.grpc_port is not None:
        try:  # a taken gRPC port fails here with one line, before the models load
            bind(args.host, args.grpc_port).close()
        except ValueError:
            sock.close()
            raise
    try:
        serve_forever(spec, sock)
    finally:
        sock.close()
    return 0
