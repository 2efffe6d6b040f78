"""`triptych serve PATH`: ONNX models over the Open Inference Protocol (KServe v2).

PATH is one .onnx file, a directory of them, or a Triton model repository. Endpoints:
/v2/health/live|ready, /v2, /v2/models/{m}[/versions/{v}][/ready|/infer], /metrics.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve ONNX models (KServe v2 over HTTP)", description=__doc__)
    p.add_argument("path", help=".onnx file, directory of them, or Triton repository")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--max-batch",
        type=int,
        default=256,
        help="largest batch per request and per merged batch (default 256)",
    )
    p.add_argument(
        "--max-delay-ms",
        type=float,
        default=0.0,
        help="dynamic batching window in ms; 0 (default) turns it off",
    )
    p.add_argument("--threads", type=int, help="onnxruntime intra-op threads per session")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from triptych.serve.app import ServeConfig, create_app
    from triptych.serve.repository import Repository

    repo = Repository.from_path(args.path, threads=args.threads)
    app = create_app(repo, ServeConfig(max_batch=args.max_batch, max_delay_ms=args.max_delay_ms))
    print(f"serving {', '.join(sorted(repo.models))} on http://{args.host}:{args.port}")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
