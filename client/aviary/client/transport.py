"""The SDK's plumbing: one credential against one deployment, calls retried with back-off.

Writes carry an `Idempotency-Key`, so the client's own retries (on 429, 503 and dropped
connections, with back-off and the server's Retry-After) never do anything twice.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any, Self

import httpx

from aviary.client.config import Endpoints
from aviary.client.errors import AviaryError

RETRY_STATUSES = frozenset({429, 502, 503, 504})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Transport:
    """One credential (a token, or the operator key) against one deployment."""

    def __init__(
        self,
        token: str,
        endpoints: Endpoints | None = None,
        *,
        retries: int = 6,
        timeout_s: float = 60.0,
        backoff_s: float = 0.25,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoints = endpoints or Endpoints.from_env()
        self.retries = retries
        self.backoff_s = backoff_s
        self._http = httpx.AsyncClient(
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "aviary-sdk/0.1"},
            limits=httpx.Limits(max_connections=64),
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    # ----- plumbing ----------------------------------------------------------------------------

    async def request(self, method: str, service: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call, retried with back-off on 429/503 and transport errors; errors raise."""
        url = getattr(self.endpoints, service) + path
        headers = dict(kwargs.pop("headers", None) or {})
        if method in WRITE_METHODS:
            headers.setdefault("Idempotency-Key", uuid.uuid4().hex)
        for attempt in range(self.retries + 1):
            try:
                response = await self._http.request(method, url, headers=headers, **kwargs)
            except httpx.TransportError:
                if attempt == self.retries:
                    raise
                await asyncio.sleep(self._delay(attempt, None))
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retries:
                await asyncio.sleep(self._delay(attempt, response.headers.get("retry-after")))
                continue
            if response.status_code >= 400:
                raise AviaryError.from_response(response)
            return response
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(60.0, float(retry_after))
            except ValueError:
                pass  # an HTTP date: fall back to our own back-off
        jitter = 0.5 + random.random() / 2
        return float(min(10.0, self.backoff_s * 2**attempt) * jitter)

    async def _json(self, method: str, service: str, path: str, **kwargs: Any) -> Any:
        response = await self.request(method, service, path, **kwargs)
        return response.json() if response.content else None
