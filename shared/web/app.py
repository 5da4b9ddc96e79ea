"""The HTTP side every service shares: app factory, errors, correlation ids, health, metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import AppError, Unavailable, error_body
from shared.events import RoutingKey, TokenRevoked
from shared.messaging.handlers import apply_once
from shared.observability import (
    HTTP_LATENCY,
    SERVICE_LATENCY,
    correlation_id,
    new_correlation_id,
)
from shared.release import server_version
from shared.runtime import Runtime, Startup, every
from shared.security.audit import audit_router
from shared.security.media_reads import FLUSH_S
from shared.security.personal_data import Collector, keeps_nothing, personal_data_router
from shared.security.ratelimit import RateLimit, RateLimiter
from shared.security.revocation import Revocations
from shared.store.mongo import DATABASE_DOWN
from shared.store.storage import STORAGE_DOWN
from shared.web.bodylimit import JsonBodyLimit
from shared.web.idempotency import IdempotencyMiddleware, IdempotencyStore
from shared.web.metrics import metrics_endpoint, serve_internal
from shared.web.pages import allow_page_origins
from shared.web.rollups_api import rollups_router

log = logging.getLogger(__name__)

CORRELATION_HEADER = "x-correlation-id"


class CorrelationAndMetrics:
    """Pure ASGI middleware: a correlation id per request (kept if the client sent one), latency."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(CORRELATION_HEADER.encode(), b"").decode()
        cid = incoming[:64] if incoming.isprintable() and incoming else new_correlation_id()
        token = correlation_id.set(cid)
        status = 500
        started = time.perf_counter()

        async def send_with_header(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (CORRELATION_HEADER.encode(), cid.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_header)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            took = time.perf_counter() - started
            HTTP_LATENCY.labels(self.service, scope["method"], path, str(status)).observe(took)
            SERVICE_LATENCY.labels(self.service).observe(took)
            correlation_id.reset(token)


OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"})


class StartupGate:
    """Until the runtime has started (dependencies up, indexes and buckets made), answer API
    calls with 503 and Retry-After; health, readiness and metrics answer all along."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.runtime.started.is_set() or scope["path"] in OPS_PATHS:
            await self.app(scope, receive, send)
            return
        body = error_body("starting", "the service is starting; retry shortly")
        await JSONResponse(body, status_code=503, headers={"Retry-After": "2"})(
            scope, receive, send
        )


HTTP_CODES = {
    400: "invalid_body",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def app_error(_: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # The framework's own refusals (unknown path, wrong method, unparseable body) in the
        # same shape as ours.
        code = HTTP_CODES.get(exc.status_code, "bad_request")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse(
            error_body("invalid_request", "the request does not match the schema", details),
            status_code=422,
        )

    async def dependency_down(_: Request, exc: Exception) -> JSONResponse:
        # Nothing half-made remains (writes are transactional), so a retry is safe.
        what = "the database" if isinstance(exc, DATABASE_DOWN) else "object storage"
        log.warning("http.dependency_down", extra={"error": repr(exc)[:300]})
        error = Unavailable(what)
        return JSONResponse(
            error_body(error.code, error.message), status_code=503, headers=error.headers
        )

    for exc_type in (*DATABASE_DOWN, *STORAGE_DOWN):
        app.add_exception_handler(exc_type, dependency_down)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unhandled_error")
        return JSONResponse(
            error_body("internal_error", "an unexpected error occurred; it has been logged"),
            status_code=500,
        )


def _ops_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Alive: the process answers."""
        return {"status": "ok", "service": runtime.service, "version": server_version()}

    @router.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Ready: Mongo, object storage and the broker all answer."""
        checks = await runtime.check_dependencies()
        checks["started"] = "ok" if runtime.started.is_set() else "starting"
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {
                "status": "ready" if ok else "not_ready",
                "service": runtime.service,
                "version": server_version(),
                "checks": checks,
            },
            status_code=200 if ok else 503,
        )

    router.get("/metrics", include_in_schema=False)(metrics_endpoint(runtime.settings))

    return router


def with_common_parts(
    runtime: Runtime,
    own: Startup,
    *,
    revocations: Revocations,
    idempotency: IdempotencyStore,
) -> Startup:
    """A service's own start-up, followed by what every service runs: it refuses revoked
    credentials (consumes `token.revoked`, and re-reads the list in every role), writes the
    media reads it noted (every second and at the end) and its per-minute figures (rollups),
    and prepares the indexes of its audit
    log and of its stored idempotent answers."""
    learn_revocation = apply_once(
        runtime.db, TokenRevoked, revocations.record, after=revocations.remember
    )
    return Startup(
        handlers={**own.handlers, RoutingKey.TOKEN_REVOKED: learn_revocation},
        steps=[
            *own.steps,
            revocations.ensure_indexes,
            runtime.audit.ensure_indexes,
            idempotency.ensure_indexes,
        ],
        worker_loops=own.worker_loops,
        every_role_loops=[
            *own.every_role_loops,
            revocations.run,
            every(FLUSH_S, runtime.media_reads.flush, name="audit.media_reads"),
            every(runtime.settings.rollup_interval_s, runtime.rollups.tick, name="rollups"),
        ],
        stop_steps=[*own.stop_steps, runtime.media_reads.flush],
        erasure=own.erasure,
    )


def create_app(
    runtime: Runtime,
    startup: Startup,
    routers: Sequence[APIRouter],
    *,
    title: str,
    personal: Collector = keeps_nothing,
) -> FastAPI:
    """A service's FastAPI app; in its lifespan the runtime runs `startup` with the common parts.
    `personal`: what the service keeps about one person, for their own export."""
    revocations = Revocations(runtime.db)
    idempotency = IdempotencyStore(runtime.db)
    whole = with_common_parts(runtime, startup, revocations=revocations, idempotency=idempotency)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        serve_internal(runtime.settings)
        runtime.start_in_background(whole)
        try:
            yield
        finally:
            await runtime.stop()

    switch = runtime.settings.otel
    telemetry: TelemetryConfig = {
        "tracing": switch,
        "metrics": switch,
        "logs": switch,
        "operation_spans": switch,
    }
    app = FastAPI(title=title, version=server_version(), lifespan=lifespan, telemetry=telemetry)
    app.state.settings = runtime.settings
    app.state.runtime = runtime
    app.state.revocations = revocations
    _install_error_handlers(app)
    # The service's own routes first: every request is matched against the routes in order,
    # and the hot ones (a worker's next and submit) should not walk past the ops routes.
    for router in routers:
        app.include_router(router)
    app.include_router(_ops_router(runtime))
    app.include_router(audit_router())
    app.include_router(rollups_router())
    app.include_router(personal_data_router(runtime.service, personal))
    # Every write with an Idempotency-Key is safe to retry. Added first, so it runs inside the
    # correlation middleware and its own answers carry a correlation id.
    app.add_middleware(IdempotencyMiddleware, store=idempotency)
    app.add_middleware(JsonBodyLimit, max_bytes=runtime.settings.max_json_bytes)
    app.add_middleware(StartupGate, runtime=runtime)
    settings = runtime.settings
    if settings.rate_limit_per_s > 0:
        # Outside idempotency and the startup gate: a flood is refused before any work.
        limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
        app.add_middleware(RateLimit, limiter=limiter, exempt=OPS_PATHS)
    app.add_middleware(CorrelationAndMetrics, service=runtime.service)
    allow_page_origins(app, runtime.settings)  # outermost: preflights need no credentials
    return app
