"""services/ingest/fetch_pool.py against a keep-alive HTTP/1.1 server on 127.0.0.1.

The server counts the connections it accepted and how many were open at once, so the tests
see what the pool does on the wire: reuse, its bounds, and what it does after failures.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.ingest.fetch_pool import OriginPool, origin_of
from tests.support import LoopbackServer

BODY = b"x" * 1000


@dataclass
class KeepAliveServer(LoopbackServer):
    """Answers requests on a connection until the client closes it (or asks `/close`)."""

    accepted: int = 0
    open_now: int = 0
    most_open: int = 0
    requests: int = 0

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                target = head.split(" ", 2)[1]
                self.requests += 1
                if target == "/hangup":
                    return
                if target == "/slow":
                    await asyncio.sleep(0.05)
                close = target == "/close"
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n"
                    % (len(BODY), b"Connection: close\r\n" if close else b"")
                    + BODY
                )
                await writer.drain()
                if close:
                    return
        finally:
            self.open_now -= 1


@pytest.fixture
async def server() -> AsyncIterator[KeepAliveServer]:
    srv = KeepAliveServer()
    await srv.start()
    yield srv
    await srv.stop()


async def get(client: httpx.AsyncClient, url: str, **extensions: Any) -> bytes:
    request = client.build_request("GET", url, extensions=extensions)
    response = await client.send(request, stream=True)
    try:
        return await response.aread()
    finally:
        await response.aclose()


async def test_one_connection_serves_requests_one_after_another(
    server: KeepAliveServer,
) -> None:
    pool = OriginPool(max_connections=4, max_idle=4)
    async with httpx.AsyncClient(transport=pool) as client:
        for _ in range(5):
            assert await get(client, server.url()) == BODY
        assert pool.idle == 1
    assert server.requests == 5
    assert server.accepted == 1


async def test_no_more_connections_than_allowed_and_at_most_max_idle_kept(
    server: KeepAliveServer,
) -> None:
    pool = OriginPool(max_connections=3, max_idle=2)
    async with httpx.AsyncClient(transport=pool) as client:
        bodies = await asyncio.gather(*(get(client, server.url("/slow")) for _ in range(12)))
        assert bodies == [BODY] * 12
        assert server.most_open <= 3
        assert 2 <= server.accepted <= 3
        assert pool.idle == 2
        await asyncio.sleep(0.05)  # the surplus connection is closed behind the caller
        assert server.open_now == 2
    await asyncio.sleep(0.05)
    assert server.open_now == 0  # closing the client closes what was kept


async def test_a_name_checked_over_tls_gets_connections_of_its_own(
    server: KeepAliveServer,
) -> None:
    """Two names at one address: a connection made with one name as SNI is not reused for
    the other (its certificate was checked for the first)."""
    pool = OriginPool(max_connections=4, max_idle=4)
    async with httpx.AsyncClient(transport=pool) as client:
        await get(client, server.url(), sni_hostname="a.example")
        await get(client, server.url(), sni_hostname="b.example")
        await get(client, server.url(), sni_hostname="a.example")
    assert server.accepted == 2
    assert server.requests == 3


def test_the_origin_is_the_address_port_and_name() -> None:
    pinned = httpx.Request("GET", "https://10.0.0.7/x.jpg", extensions={"sni_hostname": "cdn.a"})
    assert origin_of(pinned) == ("https", "10.0.0.7", 443, "cdn.a")
    assert origin_of(httpx.Request("GET", "http://10.0.0.7:8080/")) == (
        "http",
        "10.0.0.7",
        8080,
        None,
    )


async def test_an_idle_connection_past_its_expiry_is_not_reused(server: KeepAliveServer) -> None:
    pool = OriginPool(max_connections=2, max_idle=2, keepalive_expiry_s=0.05)
    async with httpx.AsyncClient(transport=pool) as client:
        await get(client, server.url())
        await asyncio.sleep(0.1)
        await get(client, server.url())
    assert server.accepted == 2


async def test_a_connection_the_server_closed_is_replaced(server: KeepAliveServer) -> None:
    pool = OriginPool(max_connections=1, max_idle=1)
    async with httpx.AsyncClient(transport=pool) as client:
        assert await get(client, server.url("/close")) == BODY
        await asyncio.sleep(0.02)
        assert await get(client, server.url()) == BODY
    assert server.accepted == 2


async def test_failures_and_early_closes_give_the_slot_back(server: KeepAliveServer) -> None:
    """With one connection allowed, a request that failed or whose body was never read must
    not hold it: the next request would wait for ever."""
    pool = OriginPool(max_connections=1, max_idle=1)
    async with httpx.AsyncClient(transport=pool) as client:
        with pytest.raises(httpx.RemoteProtocolError):  # httpx's error, not httpcore's
            await get(client, server.url("/hangup"))
        response = await client.send(client.build_request("GET", server.url()), stream=True)
        await response.aclose()  # body not read
        assert await asyncio.wait_for(get(client, server.url()), 2) == BODY
