"""Who reads `/metrics`: the operator, or a scraper with the metrics token, on the API's port;
anyone who can reach the internal metrics port (`AVIARY_METRICS_PORT`), which production keeps
inside the cluster (no Service or ingress names it).

The counters are the whole platform's (tasks, annotators, queues of every tenant), so the
public port does not hand them to any caller: a vendor admin's dashboard shows its own
vendor's figures from the API instead.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest, start_http_server

from shared.errors import AppError
from shared.settings import Settings

log = logging.getLogger(__name__)


def may_read(settings: Settings, authorization: str | None) -> bool:
    """Whether the bearer token is the operator key or the metrics token."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    keys = [settings.operator_key, settings.metrics_token]
    return any(
        key is not None and hmac.compare_digest(token.encode(), key.get_secret_value().encode())
        for key in keys
    )


def metrics_endpoint(settings: Settings) -> Callable[..., Awaitable[Response]]:
    async def metrics(authorization: Annotated[str | None, Header()] = None) -> Response:
        """The Prometheus exposition, for the operator key or the metrics token."""
        if not may_read(settings, authorization):
            raise AppError(
                "unauthorized",
                "metrics need the operator key or the metrics token (Authorization: Bearer)",
                status_code=401,
            )
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return metrics


_serving: set[int] = set()


def serve_internal(settings: Settings) -> None:
    """`/metrics` without a token on `metrics_port`, once per process (a thread of its own)."""
    port = settings.metrics_port
    if port is None or port in _serving:
        return
    start_http_server(port, addr=settings.host)
    _serving.add(port)
    log.info("metrics.serving", extra={"port": port})
