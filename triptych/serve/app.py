"""The ASGI app: KServe v2 endpoints over a `Repository`. ``POST .../infer`` is served by
`FastPath` straight from the ASGI scope (no middleware, no route table); the other endpoints
by a Starlette app behind it.

Errors are ``{"error": msg}`` with 400 (bad request), 404 (unknown model/version/route), 405
(wrong method), 408 (body stalled), 413 (body over the limit); 500 only for onnxruntime
failures. A response sent before the request body was read whole says ``Connection: close``.
No Content-Type is required (the standard tritonclient sends none). Requests with bodies over
`INLINE_BYTES` are parsed (at most `HEAVY_PARSES` at once), and outputs over
`INLINE_ELEMENTS` encoded, in the thread pool so health checks keep answering meanwhile.
onnxruntime runs through the model's `Batcher` (on the event loop itself when the run is
short, see `batcher.runs_inline`; merged with the other short requests of the same loop
iteration under concurrency).

The repository API (``POST /v2/repository/index``, ``/v2/repository/models/{name}/load`` and
``/unload``) loads, replaces and unloads models while serving (`reload`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from triptych.common.version import __version__
from triptych.serve import inflight, jsoncodec
from triptych.serve.batcher import Batcher, run_session, runs_inline
from triptych.serve.body import Receive, read_body
from triptych.serve.errors import ServeError
from triptych.serve.metrics import Metrics, batch_lines
from triptych.serve.protocol import (
    InferRequest,
    encode_response,
    json_too_big,
    parse_request,
    split_body,
)
from triptych.serve.reload import Reloader
from triptych.serve.repository import Repository, ServedModel

HEADER = "Inference-Header-Content-Length"
HEADER_KEY = HEADER.lower().encode()
INLINE_BYTES = 64 << 10  # bodies up to this are parsed on the event loop
INLINE_ELEMENTS = 1 << 14  # outputs up to this many elements are encoded on the event loop
HEAVY_PARSES = 2  # big bodies parsed at once (each JSON byte can cost ~16 bytes of objects)


@dataclass(frozen=True)
class ServeConfig:
    """``max_batch``: rows per request and per merged batch (default 256); ``batching``:
    merge requests that arrive while a model is busy (default on; Triton-style, see
    `Batcher`); ``max_delay_ms``: how long a merged batch may wait to fill (default 0);
    ``instances``: merged runs of one model in progress at once (Triton's instance_group
    count, default 1; more help only when one run cannot keep the cores busy: on resnet18
    with 2 cores, 2 instances gained nothing, `benchmarks/loadgen/`); ``max_body``: bytes
    (64 MiB); ``max_json``: bytes of JSON per request (8 MiB: parsing JSON builds Python
    objects while holding the GIL, ~0.3 s for 8 MiB of numbers, so bigger tensors must come
    in binary, which is zero-copy); ``body_timeout``: seconds to wait for each piece of a
    body (30); ``stream_idle_s``: seconds a gRPC ModelStreamInfer stream may wait for its
    next request before it is closed (60); ``repository_api``: serve the repository API's
    load/unload (off under ``--workers``, where each process has its own models)."""

    max_batch: int = 256
    batching: bool = True
    max_delay_ms: float = 0.0
    instances: int = 1
    max_body: int = 64 << 20
    max_json: int = 8 << 20
    body_timeout: float = 30.0
    stream_idle_s: float = 60.0
    repository_api: bool = True


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(jsoncodec.dumps(doc), status, headers, media_type="application/json")


def _error(status: int, message: str, close: bool = False) -> Response:
    return json_response({"error": message}, status, {"Connection": "close"} if close else None)


class Core:
    """The endpoints, holding the repository, config, metrics and one batcher per model."""

    def __init__(self, repo: Repository, config: ServeConfig) -> None:
        self.repo, self.config = repo, config
        self.metrics = Metrics(repo.models)
        #: one batcher per batched model version when batching is on (never changed in
        #: place: `reload.Reloader` swaps in a new dict)
        self.batchers: dict[tuple[str, str], Batcher] = {}
        for versions in repo.models.values():
            for model in versions.values():
                if (batcher := self.make_batcher(model)) is not None:
                    self.batchers[(model.name, model.version)] = batcher
        self.heavy: anyio.CapacityLimiter | None = None  # bounds concurrent big parses
        self.reloader = Reloader(self)

    def make_batcher(self, model: ServedModel) -> Batcher | None:
        """``model``'s batcher (None when batching is off or the model is not batched)."""
        config = self.config
        if not (config.batching and config.max_batch > 1 and model.batched):
            return None
        return Batcher(
            model, config.max_batch, config.max_delay_ms / 1000.0, instances=config.instances
        )

    def batcher(self, model: ServedModel) -> Batcher | None:
        """``model``'s batcher; None for a version replaced while its request ran."""
        batcher = self.batchers.get((model.name, model.version))
        return batcher if batcher is not None and batcher.model is model else None

    async def repository_index(self, _: Request) -> Response:
        """``POST /v2/repository/index``: every served model version, READY."""
        models = self.repo.models
        return json_response(
            [
                {"name": n, "version": v, "state": "READY"}
                for n in sorted(models)
                for v in sorted(models[n], key=int)
            ]
        )

    async def repository_load(self, request: Request) -> Response:
        """``POST /v2/repository/models/{name}/load``: (re)load from the model folder."""
        self._repository_api()
        name = request.path_params["name"]
        await anyio.to_thread.run_sync(self.reloader.load, name)
        return json_response({})

    async def repository_unload(self, request: Request) -> Response:
        """``POST /v2/repository/models/{name}/unload``."""
        self._repository_api()
        self.reloader.unload(request.path_params["name"])
        return json_response({})

    def _repository_api(self) -> None:
        if not self.config.repository_api:
            raise ServeError(
                400,
                "with --workers N every worker process has its own models, so a load or "
                "unload would reach one of them: use --poll SECONDS (each worker reloads "
                "changed model folders) instead",
            )

    async def live(self, _: Request) -> Response:
        return json_response({"live": True})

    async def ready(self, _: Request) -> Response:
        return json_response({"ready": True})

    async def server_metadata(self, _: Request) -> Response:
        return json_response(
            {
                "name": "triptych",
                "version": __version__,
                "extensions": ["binary_tensor_data", "model_repository"],
            }
        )

    def _model(self, request: Request) -> ServedModel:
        params = request.path_params
        return self.repo.get(params["name"], params.get("version"))

    async def model_metadata(self, request: Request) -> Response:
        return json_response(self._model(request).metadata())

    async def model_ready(self, request: Request) -> Response:
        return json_response({"name": self._model(request).name, "ready": True})

    async def prometheus(self, _: Request) -> Response:
        batches = batch_lines({key: b.totals() for key, b in self.batchers.items()})
        text = self.metrics.render() + "\n".join(batches) + ("\n" if batches else "")
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    async def infer(self, request: Request) -> Response:
        """The Starlette route (used when the app is mounted without `FastPath`)."""
        params = request.path_params
        status, body, media, extra = await self.handle_infer(
            params["name"], params.get("version"), request.scope["headers"], request.receive
        )
        return Response(body, status, extra, media_type=media)

    async def handle_infer(
        self,
        name: str,
        version: str | None,
        headers: list[tuple[bytes, bytes]],
        receive: Receive,
    ) -> tuple[int, bytes, str, dict[str, str] | None]:
        """(status, body, media type, extra headers) of one inference request."""
        t0 = time.perf_counter()
        status, body_read = 500, False
        try:
            model = self.repo.get(name, version)
            header_length = _header(headers, HEADER_KEY)
            limit = self.config.max_body
            if header_length is None:  # all JSON
                limit = min(limit, self.config.max_json)
            try:
                body = await read_body(receive, headers, limit, self.config.body_timeout)
            except ServeError as e:
                if e.status == 413 and limit == self.config.max_json:
                    raise json_too_big("more than " + str(limit), limit) from None
                raise
            body_read = True
            data, header_len = await self._infer(model, body, header_length)
            status = 200
            if header_len is None:
                return 200, data, "application/json", None
            return 200, data, "application/octet-stream", {HEADER: str(header_len)}
        except ServeError as e:
            status = e.status
            close = {"Connection": "close"} if not body_read else None
            return e.status, jsoncodec.dumps({"error": str(e)}), "application/json", close
        finally:
            self.metrics.observe(name, time.perf_counter() - t0, status)

    def _parse(
        self, model: ServedModel, body: bytearray, header_length: str | None
    ) -> InferRequest:
        header, binary = split_body(body, header_length, self.config.max_json)
        max_batch = self.config.max_batch if model.batched else None
        return parse_request(header, binary, model, max_batch)

    async def _infer(
        self, model: ServedModel, body: bytearray, header_length: str | None
    ) -> tuple[bytes, int | None]:
        if len(body) > INLINE_BYTES:
            if self.heavy is None:  # made on the loop (anyio needs a running one)
                self.heavy = anyio.CapacityLimiter(HEAVY_PARSES)
            req = await anyio.to_thread.run_sync(
                self._parse, model, body, header_length, limiter=self.heavy
            )
        else:
            req = self._parse(model, body, header_length)
        try:
            results = await self.run_model(model, req.inputs)
        except Exception as e:  # a real runtime failure inside onnxruntime
            raise ServeError(500, f"onnxruntime failed: {type(e).__name__}: {e}") from e
        if sum(np.size(a) for a in results.values()) > INLINE_ELEMENTS:
            return await run_in_threadpool(encode_response, model, req, results)
        return encode_response(model, req, results)

    async def run_model(self, model: ServedModel, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
        """The model's outputs for validated ``feeds`` from the event loop: through its
        batcher when batching is on; on the loop itself when the run is short
        (`runs_inline`), else in the thread pool."""
        batcher = self.batcher(model)
        if batcher is not None:
            return await batcher.submit(feeds)
        if runs_inline(model, next(iter(feeds.values())).shape[0]) and inflight.alone():
            return run_session(model, feeds)
        return await run_in_threadpool(run_session, model, feeds)

    def run_model_sync(self, model: ServedModel, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
        """`run_model` from a thread (the gRPC server's): blocks it until the outputs are in.
        A short run (`runs_inline`: under 0.5 ms at its batch size, measured at load) runs on
        the calling thread at once, beside any other (onnxruntime sessions are thread-safe):
        queueing it for the batcher's runner thread and waking this one again costs more CPU
        than merging saves (measured on the GAN generator at batch 1 under LoadGen, 16 gRPC
        requests in flight: ~525 against ~730 us of server CPU per request, 2,040 against
        1,490 samples/s, medians of 5 interleaved rounds). Longer runs go through the batcher:
        at once when the model is idle, else merged with the requests that wait."""
        first = next(iter(feeds.values()))
        if runs_inline(model, first.shape[0] if first.ndim else 1):
            return run_session(model, feeds)
        batcher = self.batcher(model)
        if batcher is not None:
            return batcher.run(feeds)
        return run_session(model, feeds)


def _header(headers: list[tuple[bytes, bytes]], key: bytes) -> str | None:
    for k, v in headers:
        if k == key:
            return v.decode("latin-1")
    return None


class FastPath:
    """The ASGI app the server runs: ``POST /v2/models/{name}[/versions/{version}]/infer``
    goes straight to `Core.handle_infer` (no middleware, no route table: the per-request
    Python that the hot path pays for); everything else goes to the Starlette ``app``.
    ``state`` is the Starlette app's (repo, metrics, batchers, core)."""

    def __init__(self, core: Core, app: Starlette) -> None:
        self.core, self.app, self.state = core, app, app.state

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            parts = scope["path"].split("/")
            route = None
            if len(parts) == 5 and parts[4] == "infer":
                route = (parts[3], None)
            elif len(parts) == 7 and parts[4] == "versions" and parts[6] == "infer":
                route = (parts[3], parts[5] or None)
            if route and parts[:3] == ["", "v2", "models"] and route[0] and route[1] != "":
                await self._infer(route[0], route[1], scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _infer(
        self, name: str, version: str | None, scope: dict[str, Any], receive: Receive, send: Any
    ) -> None:
        try:
            status, body, media, extra = await self.core.handle_infer(
                name, version, scope["headers"], receive
            )
        except Exception as e:  # what Starlette's ServerErrorMiddleware would answer
            status, media = 500, "application/json"
            body = jsoncodec.dumps({"error": f"internal error: {type(e).__name__}"})
            extra = {"Connection": "close"}
        headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", media.encode()),
        ]
        if extra:
            headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, str(exc.detail), close=exc.status_code == 405)


async def _serve_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServeError)
    return _error(exc.status, str(exc))


async def _internal_error(_: Request, exc: Exception) -> Response:
    return _error(500, f"internal error: {type(exc).__name__}", close=True)


def create_app(repo: Repository, config: ServeConfig = ServeConfig()) -> FastPath:
    """The ASGI app (`FastPath` over Starlette); ``app.state.repo``, ``.metrics`` and
    ``.batchers`` (as made at the start; ``core.batchers`` after a reload) for inspection,
    ``app.state.core`` (repository, config, metrics, batchers, reloader) for the gRPC
    endpoint."""
    s = Core(repo, config)
    m = "/v2/models/{name}"
    v = "/v2/models/{name}/versions/{version}"
    routes = [
        Route("/v2/health/live", s.live, methods=["GET"]),
        Route("/v2/health/ready", s.ready, methods=["GET"]),
        Route("/v2", s.server_metadata, methods=["GET"]),
        Route("/metrics", s.prometheus, methods=["GET"]),
        *(Route(p, s.model_metadata, methods=["GET"]) for p in (m, v)),
        *(Route(f"{p}/ready", s.model_ready, methods=["GET"]) for p in (m, v)),
        *(Route(f"{p}/infer", s.infer, methods=["POST"]) for p in (m, v)),
        Route("/v2/repository/index", s.repository_index, methods=["POST"]),
        Route("/v2/repository/models/{name}/load", s.repository_load, methods=["POST"]),
        Route("/v2/repository/models/{name}/unload", s.repository_unload, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            HTTPException: _http_error,
            ServeError: _serve_error,
            Exception: _internal_error,
        },
    )
    app.state.repo, app.state.metrics, app.state.batchers = repo, s.metrics, s.batchers
    app.state.core = s
    return FastPath(s, app)
