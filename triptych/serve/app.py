"""The ASGI app: KServe v2 endpoints over a `Repository`.

Errors are ``{"error": msg}`` with 400 (bad request), 404 (unknown model/version/route), 405
(wrong method), 413 (body over the limit); 500 only for onnxruntime failures. No Content-Type
is required (the standard tritonclient sends none).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from triptych.serve.batcher import Batcher, run_session
from triptych.serve.errors import ServeError
from triptych.serve.metrics import Metrics
from triptych.serve.protocol import encode_response, parse_request, split_body
from triptych.serve.repository import Repository

HEADER = "Inference-Header-Content-Length"


@dataclass(frozen=True)
class ServeConfig:
    """``max_batch``: rows per request and per merged batch (default 256);
    ``max_delay_ms``: dynamic batching window, 0 = off; ``max_body``: bytes (64 MiB)."""

    max_batch: int = 256
    max_delay_ms: float = 0.0
    max_body: int = 64 << 20


def create_app(repo: Repository, config: ServeConfig = ServeConfig()) -> FastAPI:
    from triptych import __version__

    app = FastAPI(title="triptych", version=__version__, docs_url=None, redoc_url=None)
    metrics = Metrics()
    batchers: dict[tuple[str, str], Batcher] = {}
    app.state.repo, app.state.metrics, app.state.batchers = repo, metrics, batchers

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(ServeError)
    async def serve_error(_: Request, exc: ServeError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> dict[str, bool]:
        return {"ready": True}

    @app.get("/v2")
    async def server_metadata() -> dict[str, Any]:
        return {
            "name": "triptych",
            "version": __version__,
            "extensions": ["binary_tensor_data", "model_repository"],
        }

    @app.get("/v2/models/{name}")
    @app.get("/v2/models/{name}/versions/{version}")
    async def model_metadata(name: str, version: str | None = None) -> dict[str, Any]:
        return repo.get(name, version).metadata()

    @app.get("/v2/models/{name}/ready")
    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def model_ready(name: str, version: str | None = None) -> dict[str, Any]:
        model = repo.get(name, version)
        return {"name": model.name, "ready": True}

    @app.get("/metrics")
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.post("/v2/models/{name}/infer")
    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def infer(request: Request, name: str, version: str | None = None) -> Response:
        t0 = time.perf_counter()
        status = 500
        try:
            response = await _infer(request, name, version)
            status = 200
            return response
        except ServeError as e:
            status = e.status
            raise
        finally:
            metrics.observe(name, time.perf_counter() - t0, status)

    async def _infer(request: Request, name: str, version: str | None) -> Response:
        model = repo.get(name, version)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > config.max_body:
            raise ServeError(413, f"body of {declared} bytes is over the limit {config.max_body}")
        body = await request.body()
        if len(body) > config.max_body:
            raise ServeError(413, f"body of {len(body)} bytes is over the limit {config.max_body}")
        header, binary = split_body(body, request.headers.get(HEADER))
        req = parse_request(header, binary, model, config.max_batch if model.batched else None)
        try:
            if config.max_delay_ms > 0 and model.batched:
                key = (model.name, model.version)
                if key not in batchers:
                    batchers[key] = Batcher(model, config.max_batch, config.max_delay_ms / 1000.0)
                results = await batchers[key].submit(req.inputs)
            else:
                results = await run_in_threadpool(run_session, model, req.inputs)
        except Exception as e:  # a real runtime failure inside onnxruntime
            raise ServeError(500, f"onnxruntime failed: {type(e).__name__}: {e}") from e
        body, header_length = encode_response(model, req, results)
        if header_length is None:
            return Response(body, media_type="application/json")
        return Response(
            body, media_type="application/octet-stream", headers={HEADER: str(header_length)}
        )

    return app
