"""Kept-alive connections for URL imports, taken and given back in constant time.

httpx's own pool (httpcore 1.0) re-examines every connection it holds, with a socket poll for
each, whenever a request starts or ends, and once more for every queued request: with the
64 fetches of an import group in flight that bookkeeping took a fifth of ingest's CPU
(docs/benchmarks.md, 2026-12-07). Here each connection is an httpx transport of its own
(`max_connections=1`: its pool has one connection to look at), and idle ones wait in a list
per origin, so a request looks at one connection, not all of them. httpx's transport still
does the HTTP, TLS and the mapping of errors to httpx's exceptions.

The origin is the address connected to (the fetcher pins the IP) and, for https, the name
sent as SNI: a connection whose certificate was checked for one name is never used for
another name that happens to resolve to the same address.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable

import httpx

Origin = tuple[str, str, int, str | None]  # scheme, host (an IP when pinned), port, SNI name


def origin_of(request: httpx.Request) -> Origin:
    sni = request.extensions.get("sni_hostname")
    return (
        request.url.scheme,
        request.url.host,
        request.url.port or (443 if request.url.scheme == "https" else 80),
        sni if isinstance(sni, str) else None,
    )


class _GivenBack(httpx.AsyncByteStream):
    """A response body that hands its connection back once closed."""

    def __init__(self, stream: httpx.AsyncByteStream, done: Callable[[], None]) -> None:
        self._stream = stream
        self._done: Callable[[], None] | None = done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._done is not None:
                done, self._done = self._done, None
                done()


class OriginPool(httpx.AsyncBaseTransport):
    """At most `max_connections` open at once (a request beyond them waits for one to be
    given back) and at most `max_idle` kept alive between requests, the least recently used
    closed first; an idle one older than `keepalive_expiry_s` is closed, not reused."""

    def __init__(
        self,
        *,
        max_connections: int,
        max_idle: int,
        keepalive_expiry_s: float = 5.0,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.max_idle = max_idle
        self.keepalive_expiry_s = keepalive_expiry_s
        # One TLS context for every connection: making one reads the CA bundle.
        self._ssl = (
            verify
            if isinstance(verify, ssl.SSLContext)
            else httpx.create_ssl_context(verify=verify)
        )
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: OrderedDict[Origin, list[tuple[float, httpx.AsyncHTTPTransport]]] = (
            OrderedDict()
        )
        self._idle_count = 0
        self._waiting = 0  # requests waiting for a slot: they will take what is given back
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def idle(self) -> int:
        """Connections kept alive now."""
        return self._idle_count

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        origin = origin_of(request)
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        connection = self._take(origin) or self._open()
        try:
            response = await connection.handle_async_request(request)
        except BaseException:
            self._slots.release()
            self._close_soon(connection)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)

        def given_back() -> None:
            self._slots.release()
            self._keep(origin, connection)

        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_GivenBack(response.stream, given_back),
            extensions=response.extensions,
        )

    def _open(self) -> httpx.AsyncHTTPTransport:
        one = httpx.Limits(
            max_connections=1, max_keepalive_connections=1, keepalive_expiry=self.keepalive_expiry_s
        )
        return httpx.AsyncHTTPTransport(verify=self._ssl, trust_env=False, limits=one)

    def _take(self, origin: Origin) -> httpx.AsyncHTTPTransport | None:
        waiting = self._idle.get(origin)
        if not waiting:
            return None
        since, connection = waiting.pop()
        self._idle_count -= 1
        if not waiting:
            del self._idle[origin]
        if time.monotonic() - since > self.keepalive_expiry_s:
            self._close_soon(connection)
            return None
        return connection

    def _keep(self, origin: Origin, connection: httpx.AsyncHTTPTransport) -> None:
        self._idle.setdefault(origin, []).append((time.monotonic(), connection))
        self._idle.move_to_end(origin)
        self._idle_count += 1
        # Several given back at once while requests wait: those are about to be taken.
        while self._idle_count > self.max_idle + self._waiting:
            oldest, waiting = next(iter(self._idle.items()))
            _, dropped = waiting.pop(0)
            self._idle_count -= 1
            if not waiting:
                del self._idle[oldest]
            self._close_soon(dropped)

    def _close_soon(self, connection: httpx.AsyncHTTPTransport) -> None:
        """Closing may do I/O; the caller that gave the connection back does not wait for it."""
        task = asyncio.get_running_loop().create_task(connection.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        idle = [connection for waiting in self._idle.values() for _, connection in waiting]
        self._idle.clear()
        self._idle_count = 0
        await asyncio.gather(*(c.aclose() for c in idle), *self._closing, return_exceptions=True)
