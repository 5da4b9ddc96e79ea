"""Unit tests for services/ingest/fetcher.py: fetching client image URLs without SSRF.

A raw-asyncio HTTP server on 127.0.0.1 (port 0) plays the remote side. Nothing here may send
traffic anywhere but 127.0.0.1: every other address must be refused before connecting. Two
guards make sure of it: cases that must never connect use a client whose transport fails the
test when called, and `socket.getaddrinfo` is wrapped so that a real DNS lookup (anything not a
numeric address or "localhost") fails the test. Made-up names resolve through the `resolve=`
argument of `fetch`, or through a patched `loop.getaddrinfo` for the default resolver path.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from services.ingest.fetch_pool import OriginPool
from services.ingest.fetcher import FetchError, FetchLimits, fetch
from shared.security.urlsafety import (
    IPAddress,
    Resolve,
    UnsafeUrl,
    check_target,
    embedded_ipv4,
    is_local_name,
    resolve_host,
)
from tests.support import LoopbackServer

PAYLOAD = bytes(range(256)) * 40  # 10 KiB, "the image"
LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)


def local_limits(**overrides: Any) -> FetchLimits:
    """Limits for fetching from the test server: only 127.0.0.1/32 allowed, short timeouts."""
    values: dict[str, Any] = {
        "max_bytes": 64 * 1024,
        "connect_timeout_s": 2.0,
        "read_timeout_s": 0.5,
        "total_timeout_s": 5.0,
        "allowed_networks": LOOPBACK,
    }
    values.update(overrides)
    return FetchLimits(**values)


def ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


def resolver(table: dict[str, list[str]], calls: list[str] | None = None) -> Resolve:
    async def resolve(host: str, port: int) -> list[IPAddress]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} is not in the test table")
        return [ip(a) for a in table[host]]

    return resolve


async def expect_error(call: Awaitable[bytes], code: str, retryable: bool) -> FetchError:
    with pytest.raises(FetchError) as info:
        await call
    assert info.value.code == code, info.value
    assert info.value.retryable is retryable, info.value
    return info.value


# ---------------------------------------------------------------------------------------------
# Guards and clients


@pytest.fixture(autouse=True)
def no_real_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test on any lookup that could leave the machine (numeric and localhost only)."""
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name != "localhost":
            try:
                real(name, None, flags=socket.AI_NUMERICHOST)
            except socket.gaierror:
                raise AssertionError(f"the test tried a real DNS lookup of {name!r}") from None
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


def never_called(request: httpx.Request) -> httpx.Response:
    pytest.fail(f"fetch sent a request to {request.url} (Host {request.headers.get('host')})")


@pytest.fixture
async def refusing_client() -> AsyncIterator[httpx.AsyncClient]:
    """A client whose every request fails the test: for URLs that must be refused up front."""
    async with httpx.AsyncClient(transport=httpx.MockTransport(never_called)) as client:
        yield client


def transport(kind: str, verify: ssl.SSLContext | bool = True) -> httpx.AsyncBaseTransport:
    """httpx's own ("httpx"), or the pool URL imports use (services/ingest/fetch_pool.py)."""
    if kind == "origin-pool":
        return OriginPool(max_connections=8, max_idle=8, verify=verify)
    return httpx.AsyncHTTPTransport(verify=verify, trust_env=False)


@pytest.fixture(params=["httpx", "origin-pool"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=transport(request.param), follow_redirects=False) as c:
        yield c


# ---------------------------------------------------------------------------------------------
# The local server


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]


@dataclass
class Server(LoopbackServer):
    """One request a connection, answered by path, every request kept in `seen`."""

    seen: list[Seen] = field(default_factory=list)

    @property
    def base(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        first, *lines = head.split("\r\n")
        method, target, _ = first.split(" ", 2)
        headers = {}
        for line in lines:
            if line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        self.seen.append(Seen(method, target, headers))
        await self._route(target, headers, writer)

    @staticmethod
    async def _respond(
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        length: bool = True,
    ) -> None:
        all_headers = {"Content-Type": "application/octet-stream", "Connection": "close"}
        if length:
            all_headers["Content-Length"] = str(len(body))
        all_headers.update(headers or {})
        head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in all_headers.items())
        writer.write(head.encode("latin-1") + b"\r\n" + body)
        await writer.drain()

    async def _route(self, target: str, headers: dict[str, str], w: asyncio.StreamWriter) -> None:
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query)
        if path == "/good":
            await self._respond(w, 200, PAYLOAD, {"Content-Type": "image/png"})
        elif path == "/good-unsized":  # close-delimited body, no Content-Length
            await self._respond(w, 200, PAYLOAD, length=False)
        elif path == "/echo-host":
            await self._respond(w, 200, headers.get("host", "").encode())
        elif path == "/slow-headers":
            await asyncio.sleep(30)
        elif path == "/slow-body":
            await self._respond(w, 200, b"x" * 10, {"Content-Length": "20"}, length=False)
            await asyncio.sleep(30)
        elif path == "/dribble":  # a byte every 50 ms: never a read timeout, but endless
            await self._respond(w, 200, length=False)
            for _ in range(600):
                w.write(b"x")
                await w.drain()
                await asyncio.sleep(0.05)
        elif path == "/huge-declared":
            await self._respond(w, 200, b"x" * 1024, {"Content-Length": "10000000"}, length=False)
        elif path == "/huge-stream":
            await self._respond(w, 200, length=False)
            for _ in range(640):  # 5 MiB
                w.write(b"x" * 8192)
                await w.drain()
        elif path == "/huge-chunked":
            await self._respond(w, 200, headers={"Transfer-Encoding": "chunked"}, length=False)
            for _ in range(640):
                w.write(b"2000\r\n" + b"x" * 8192 + b"\r\n")
                await w.drain()
            w.write(b"0\r\n\r\n")
        elif path.startswith("/redirect/"):
            left = int(path.rsplit("/", 1)[1])
            if left == 0:
                await self._respond(w, 200, PAYLOAD)
            else:
                await self._respond(w, 302, headers={"Location": f"/redirect/{left - 1}"})
        elif path == "/to":
            status = int(query.get("s", ["302"])[0])
            await self._respond(w, status, headers={"Location": query["u"][0]})
        elif path == "/no-location":
            await self._respond(w, 302)
        elif path.startswith("/status/"):
            await self._respond(w, int(path.rsplit("/", 1)[1]), b"nope")
        elif path == "/hangup":
            return  # close without answering
        else:
            await self._respond(w, 404)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    await srv.start()
    yield srv
    await srv.stop()


def redirect_to(srv: Server, location: str, status: int = 302) -> str:
    return srv.url(f"/to?s={status}&u={quote(location, safe='')}")


# ---------------------------------------------------------------------------------------------
# The good path


async def test_fetches_an_image_from_an_allowed_address(
    server: Server, client: httpx.AsyncClient
) -> None:
    assert await fetch(client, server.url("/good"), local_limits()) == PAYLOAD
    (seen,) = server.seen
    assert seen.method == "GET"
    assert seen.headers["host"] == f"127.0.0.1:{server.port}"
    assert seen.headers["accept-encoding"] == "identity"


async def test_body_of_exactly_max_bytes_is_accepted(
    server: Server, client: httpx.AsyncClient
) -> None:
    limits = local_limits(max_bytes=len(PAYLOAD))
    assert await fetch(client, server.url("/good"), limits) == PAYLOAD
    assert await fetch(client, server.url("/good-unsized"), limits) == PAYLOAD


async def test_the_clients_own_headers_cookies_and_auth_are_not_sent(server: Server) -> None:
    async with httpx.AsyncClient(
        headers={"Authorization": "Bearer internal-service-token", "X-Internal": "1"},
        cookies={"session": "operator"},
        auth=("svc", "secret"),
        follow_redirects=True,  # ignored: fetch follows redirects itself
        trust_env=False,
    ) as c:
        assert await fetch(c, server.url("/redirect/1"), local_limits()) == PAYLOAD
    assert len(server.seen) == 2  # the redirect was followed by fetch, hop by hop
    for seen in server.seen:
        assert "authorization" not in seen.headers
        assert "cookie" not in seen.headers
        assert "x-internal" not in seen.headers


# ---------------------------------------------------------------------------------------------
# SSRF: refused before any connection


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://127.0.0.1/", "unsafe_url"),
        ("http://127.0.0.1:8080/x.png", "unsafe_url"),
        ("http://localhost/", "unsafe_url"),
        ("http://LOCALHOST./", "unsafe_url"),
        ("http://images.localhost/", "unsafe_url"),
        ("http://[::1]/", "unsafe_url"),
        ("http://10.0.0.1/", "unsafe_url"),
        ("http://192.168.1.1/", "unsafe_url"),
        ("http://172.16.0.1/", "unsafe_url"),
        ("http://169.254.169.254/latest/meta-data/", "unsafe_url"),
        ("http://100.100.100.200/latest/meta-data/", "unsafe_url"),  # 100.64/10 metadata
        ("http://[fd00:ec2::254]/latest/meta-data/", "unsafe_url"),
        ("http://0.0.0.0/", "unsafe_url"),
        ("http://[::]/", "unsafe_url"),
        ("http://224.0.0.1/", "unsafe_url"),
        ("http://240.0.0.1/", "unsafe_url"),
        # Numeric host tricks, normalised by getaddrinfo and then checked:
        ("http://2130706433/", "unsafe_url"),  # decimal
        ("http://0x7f000001/", "unsafe_url"),  # hex
        ("http://0x7f.1/", "unsafe_url"),  # mixed
        ("http://127.1/", "unsafe_url"),  # short form
        ("http://0177.0.0.1/", "bad_url"),  # octal: httpx refuses to parse it at all
        ("http://[::ffff:127.0.0.1]/", "unsafe_url"),  # IPv4-mapped IPv6
        ("http://[::ffff:169.254.169.254]/", "unsafe_url"),
        ("http://[2002:7f00:1::]/", "unsafe_url"),  # 6to4 around 127.0.0.1
        ("http://[64:ff9b::a9fe:a9fe]/", "unsafe_url"),  # NAT64 around 169.254.169.254
        # Not a URL fetch may try:
        ("http://user:pass@example.com/a.png", "bad_url"),
        ("http://user@127.0.0.1/", "bad_url"),
        ("ftp://example.com/a.png", "bad_url"),
        ("file:///etc/passwd", "bad_url"),
        ("gopher://127.0.0.1:6379/_INFO", "bad_url"),
        ("http:///no-host", "bad_url"),
        ("http://[fe80::1%25eth0]/", "bad_url"),
        ("http://example.com:99999/", "bad_url"),
        ("not a url", "bad_url"),
    ],
)
async def test_refused_without_connecting(
    refusing_client: httpx.AsyncClient, url: str, code: str
) -> None:
    limits = FetchLimits(max_bytes=1024)  # the default, empty allow-list
    error = await expect_error(fetch(refusing_client, url, limits), code, retryable=False)
    assert error.message


@pytest.mark.parametrize(
    "host", ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.1", "::ffff:127.0.0.1"]
)
async def test_numeric_forms_resolve_to_loopback_and_are_refused(host: str) -> None:
    (address,) = await resolve_host(host, 80)
    assert address in (ip("127.0.0.1"), ip("::ffff:127.0.0.1"))
    with pytest.raises(UnsafeUrl):
        check_target(address, [])


async def test_a_numeric_form_connects_to_the_normalised_address_when_allowed(
    server: Server, client: httpx.AsyncClient
) -> None:
    body = await fetch(client, f"http://2130706433:{server.port}/echo-host", local_limits())
    assert body == f"2130706433:{server.port}".encode()


async def test_name_resolving_inward_is_refused_via_the_loops_getaddrinfo(
    refusing_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def fake(host: Any, port: Any, **kwargs: Any) -> Any:
        if host == "evil.example":
            return await real("127.0.0.1", port, **kwargs)
        return await real(host, port, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", fake)
    await expect_error(
        fetch(refusing_client, "http://evil.example/cat.png", FetchLimits(max_bytes=1024)),
        "unsafe_url",
        retryable=False,
    )


@pytest.mark.parametrize(
    "addresses",
    [["127.0.0.1"], ["93.184.215.14", "10.1.2.3"], ["2606:4700::1111", "169.254.169.254"]],
)
async def test_name_with_any_inward_address_is_refused(
    refusing_client: httpx.AsyncClient, addresses: list[str]
) -> None:
    resolve = resolver({"evil.example": addresses})
    limits = FetchLimits(max_bytes=1024)
    await expect_error(
        fetch(refusing_client, "https://evil.example/a.png", limits, resolve=resolve),
        "unsafe_url",
        retryable=False,
    )


async def test_unresolvable_names(refusing_client: httpx.AsyncClient) -> None:
    limits = FetchLimits(max_bytes=1024)
    await expect_error(
        fetch(refusing_client, "http://nowhere.example/", limits, resolve=resolver({})),
        "connection_failed",
        retryable=False,
    )

    async def flaky(host: str, port: int) -> list[IPAddress]:
        raise socket.gaierror(socket.EAI_AGAIN, "temporary failure")

    await expect_error(
        fetch(refusing_client, "http://flaky.example/", limits, resolve=flaky),
        "connection_failed",
        retryable=True,
    )


def test_check_target_rules() -> None:
    check_target(ip("93.184.215.14"), [])
    check_target(ip("::ffff:93.184.215.14"), [])  # mapped public addresses are public
    check_target(ip("127.0.0.1"), list(LOOPBACK))
    check_target(ip("::ffff:127.0.0.1"), list(LOOPBACK))
    for bad in ["100.64.0.1", "2002:a00:1::", "64:ff9b::a00:1", "::7f00:1", "192.0.2.1"]:
        with pytest.raises(UnsafeUrl):
            check_target(ip(bad), [])
    for unspecified in ["0.0.0.0", "::", "::ffff:0.0.0.0"]:  # never, whatever the allow-list
        with pytest.raises(UnsafeUrl):
            check_target(ip(unspecified), [ipaddress.ip_network("0.0.0.0/0")])
    assert embedded_ipv4(ip("2002:7f00:1::")) == ip("127.0.0.1")
    assert embedded_ipv4(ip("64:ff9b::a9fe:a9fe")) == ip("169.254.169.254")
    assert embedded_ipv4(ip("2606:4700::1111")) is None
    assert is_local_name("LocalHost.") and is_local_name("a.b.localhost")
    assert not is_local_name("localhost.example.com")


# ---------------------------------------------------------------------------------------------
# Pinning: connect to the checked address, never a second resolution


async def test_connects_to_the_checked_address_with_the_original_host_header(
    server: Server, client: httpx.AsyncClient
) -> None:
    calls: list[str] = []
    resolve = resolver({"pinned.test": ["127.0.0.1"]}, calls)
    url = f"http://pinned.test:{server.port}/echo-host"
    body = await fetch(client, url, local_limits(), resolve=resolve)
    assert body == f"pinned.test:{server.port}".encode()
    assert calls == ["pinned.test"]  # resolved once; httpx itself only ever saw the IP


async def test_dns_rebinding_cannot_move_a_checked_connection(
    server: Server, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name answers 127.0.0.1 (allowed) once, then 10.0.0.1: the first answer is used."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    answers: list[str] = []

    async def rebinding(host: Any, port: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            answer = "127.0.0.1" if not answers else "10.0.0.1"
            answers.append(answer)
            return await real(answer, port, **kwargs)
        return await real(host, port, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", rebinding)
    body = await fetch(client, f"http://rebind.test:{server.port}/echo-host", local_limits())
    assert body == f"rebind.test:{server.port}".encode()
    assert answers == ["127.0.0.1"]

    # Every redirect hop is resolved and checked again: the same name, rebound, is refused.
    answers.clear()
    server.seen.clear()
    url = f"http://rebind.test:{server.port}/redirect/1"
    await expect_error(fetch(client, url, local_limits()), "unsafe_url", retryable=False)
    assert answers == ["127.0.0.1", "10.0.0.1"]
    assert len(server.seen) == 1


async def test_https_request_is_pinned_with_sni_and_host() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"png")

    resolve = resolver({"images.example": ["93.184.215.14"], "cdn.example": ["2606:4700::1111"]})
    limits = FetchLimits(max_bytes=1024)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as c:
        url = "https://images.example/cats/1.png?size=big#frag"
        assert await fetch(c, url, limits, resolve=resolve) == b"png"
        assert await fetch(c, "https://cdn.example:8443/x.png", limits, resolve=resolve) == b"png"
        assert await fetch(c, "http://images.example/x.png", limits, resolve=resolve) == b"png"
    first, second, plain = seen
    assert first.url == httpx.URL("https://93.184.215.14/cats/1.png?size=big")
    assert first.headers["host"] == "images.example"
    assert first.extensions["sni_hostname"] == "images.example"
    assert first.extensions["timeout"]["read"] == limits.read_timeout_s
    assert second.url == httpx.URL("https://[2606:4700::1111]:8443/x.png")
    assert second.headers["host"] == "cdn.example:8443"
    assert second.extensions["sni_hostname"] == "cdn.example"
    assert plain.url == httpx.URL("http://93.184.215.14/x.png")
    assert "sni_hostname" not in plain.extensions


async def test_next_checked_address_is_tried_when_one_refuses() -> None:
    tried: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tried.append(request.url.host)
        if request.url.host == "93.184.215.14":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, content=b"ok")

    resolve = resolver({"two.example": ["93.184.215.14", "93.184.215.15"]})
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as c:
        got = await fetch(c, "http://two.example/", FetchLimits(max_bytes=10), resolve=resolve)
    assert got == b"ok"
    assert tried == ["93.184.215.14", "93.184.215.15"]


def _self_signed(tmp: Path, name: str) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    command = ["openssl", "req", "-x509", "-nodes", "-days", "1", "-newkey", "ec"]
    command += ["-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", str(key), "-out", str(cert)]
    command += ["-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}"]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
@pytest.mark.parametrize("kind", ["httpx", "origin-pool"])
async def test_https_pinning_verifies_the_certificate_for_the_original_name(
    tmp_path: Path, kind: str
) -> None:
    """Real TLS on 127.0.0.1: SNI and the certificate check use the name, not the IP."""
    cert, key = _self_signed(tmp_path, "images.test")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    sni_seen: list[str | None] = []
    server_ctx.sni_callback = lambda _sock, name, _ctx: sni_seen.append(name)
    srv = Server(ssl_context=server_ctx)
    await srv.start()
    try:
        resolve = resolver({"images.test": ["127.0.0.1"]})
        verify = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(transport=transport(kind, verify)) as c:
            url = f"https://images.test:{srv.port}/echo-host"
            body = await fetch(c, url, local_limits(), resolve=resolve)
            assert body == f"images.test:{srv.port}".encode()
            assert sni_seen == ["images.test"]
            # The same server by IP: the certificate does not name 127.0.0.1, and a bad
            # certificate is not worth retrying.
            error = await expect_error(
                fetch(c, srv.url("/good"), local_limits()), "connection_failed", retryable=False
            )
            assert "CERTIFICATE_VERIFY_FAILED" in error.message or "certificate" in error.message
    finally:
        await srv.stop()


# ---------------------------------------------------------------------------------------------
# Redirects


@pytest.mark.parametrize("hops", [1, 3])
async def test_redirects_up_to_the_limit_are_followed(
    server: Server, client: httpx.AsyncClient, hops: int
) -> None:
    assert await fetch(client, server.url(f"/redirect/{hops}"), local_limits()) == PAYLOAD
    assert [s.target for s in server.seen] == [f"/redirect/{n}" for n in range(hops, -1, -1)]


async def test_too_many_redirects(server: Server, client: httpx.AsyncClient) -> None:
    await expect_error(
        fetch(client, server.url("/redirect/4"), local_limits()),
        "too_many_redirects",
        retryable=False,
    )
    assert len(server.seen) == 4  # the fifth request is never made
    await expect_error(
        fetch(client, server.url("/redirect/1"), local_limits(max_redirects=0)),
        "too_many_redirects",
        retryable=False,
    )


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_each_redirect_status_is_followed_as_a_get(
    server: Server, client: httpx.AsyncClient, status: int
) -> None:
    url = redirect_to(server, server.url("/good"), status)
    assert await fetch(client, url, local_limits()) == PAYLOAD
    assert [s.method for s in server.seen] == ["GET", "GET"]


async def test_relative_and_scheme_relative_locations(
    server: Server, client: httpx.AsyncClient
) -> None:
    assert await fetch(client, redirect_to(server, "good"), local_limits()) == PAYLOAD
    assert await fetch(client, redirect_to(server, "/good"), local_limits()) == PAYLOAD
    scheme_relative = f"//127.0.0.1:{server.port}/good"
    assert await fetch(client, redirect_to(server, scheme_relative), local_limits()) == PAYLOAD


@pytest.mark.parametrize(
    ("location", "code"),
    [
        ("http://127.0.0.2:{port}/good", "unsafe_url"),  # loopback, but not 127.0.0.1/32
        ("//127.0.0.2:{port}/good", "unsafe_url"),
        ("http://169.254.169.254/latest/meta-data/iam/", "unsafe_url"),
        ("http://10.0.0.1/", "unsafe_url"),
        ("http://[::1]:{port}/good", "unsafe_url"),
        ("http://localhost:{port}/good", "unsafe_url"),  # localhost names: never
        ("http://2130706434:{port}/good", "unsafe_url"),  # 127.0.0.2 in decimal
        ("http://0x7f000002:{port}/good", "unsafe_url"),  # 127.0.0.2 in hex
        ("ftp://127.0.0.1/x", "bad_url"),
        ("file:///etc/passwd", "bad_url"),
        ("http://user:pw@127.0.0.1:{port}/good", "bad_url"),
    ],
)
async def test_every_hop_is_checked(
    server: Server, client: httpx.AsyncClient, location: str, code: str
) -> None:
    target = location.format(port=server.port)
    await expect_error(fetch(client, redirect_to(server, target), local_limits()), code, False)
    assert len(server.seen) == 1  # only the redirect itself was requested


async def test_redirect_without_location_is_a_status_error(
    server: Server, client: httpx.AsyncClient
) -> None:
    error = await expect_error(
        fetch(client, server.url("/no-location"), local_limits()), "http_status", False
    )
    assert error.status == 302


# ---------------------------------------------------------------------------------------------
# Size


@pytest.mark.parametrize("path", ["/huge-declared", "/huge-stream", "/huge-chunked"])
async def test_too_large(server: Server, client: httpx.AsyncClient, path: str) -> None:
    started = time.monotonic()
    await expect_error(fetch(client, server.url(path), local_limits()), "too_large", False)
    assert time.monotonic() - started < 2.0


async def test_one_byte_over_the_limit(server: Server, client: httpx.AsyncClient) -> None:
    limits = local_limits(max_bytes=len(PAYLOAD) - 1)
    await expect_error(fetch(client, server.url("/good"), limits), "too_large", False)
    await expect_error(fetch(client, server.url("/good-unsized"), limits), "too_large", False)


class EndlessBody(httpx.AsyncByteStream):
    def __init__(self) -> None:
        self.pulled = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            self.pulled += 1
            yield b"x" * 1024

    async def aclose(self) -> None:
        self.closed = True


async def test_streaming_stops_right_after_the_limit() -> None:
    body = EndlessBody()
    resolve = resolver({"big.example": ["93.184.215.14"]})
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=body))
    async with httpx.AsyncClient(transport=transport) as c:
        limits = FetchLimits(max_bytes=10_000)
        await expect_error(
            fetch(c, "http://big.example/", limits, resolve=resolve), "too_large", False
        )
    assert body.pulled == 10  # 10 KiB read, the last chunk refused rather than kept
    assert body.closed


# ---------------------------------------------------------------------------------------------
# Status, timeouts, connection failures


STATUSES = [(404, False), (403, False), (410, False), (304, False), (429, True), (500, True)]


@pytest.mark.parametrize(("status", "retryable"), [*STATUSES, (503, True)])
async def test_status_errors(
    server: Server, client: httpx.AsyncClient, status: int, retryable: bool
) -> None:
    error = await expect_error(
        fetch(client, server.url(f"/status/{status}"), local_limits()), "http_status", retryable
    )
    assert error.status == status
    assert str(status) in error.message


@pytest.mark.parametrize("path", ["/slow-headers", "/slow-body"])
async def test_read_timeout(server: Server, client: httpx.AsyncClient, path: str) -> None:
    started = time.monotonic()
    limits = local_limits(read_timeout_s=0.3)
    await expect_error(fetch(client, server.url(path), limits), "timeout", retryable=True)
    assert time.monotonic() - started < 2.0


async def test_total_timeout_covers_a_body_that_never_ends(
    server: Server, client: httpx.AsyncClient
) -> None:
    started = time.monotonic()
    limits = local_limits(read_timeout_s=1.0, total_timeout_s=0.5)
    error = await expect_error(fetch(client, server.url("/dribble"), limits), "timeout", True)
    assert time.monotonic() - started < 2.0
    assert "0.5" in error.message


async def test_total_timeout_covers_resolution(refusing_client: httpx.AsyncClient) -> None:
    async def hanging(host: str, port: int) -> list[IPAddress]:
        await asyncio.sleep(30)
        return []

    limits = FetchLimits(max_bytes=10, total_timeout_s=0.2)
    await expect_error(
        fetch(refusing_client, "http://slow-dns.example/", limits, resolve=hanging),
        "timeout",
        retryable=True,
    )


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    yield port


async def test_connection_refused(client: httpx.AsyncClient, closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/good"
    await expect_error(fetch(client, url, local_limits()), "connection_failed", retryable=True)


async def test_server_hangs_up(server: Server, client: httpx.AsyncClient) -> None:
    await expect_error(
        fetch(client, server.url("/hangup"), local_limits()), "connection_failed", True
    )


def test_fetch_error_shape() -> None:
    error = FetchError("http_status", "the server answered HTTP 503", retryable=True, status=503)
    assert (error.code, error.message, error.retryable, error.status) == (
        "http_status",
        "the server answered HTTP 503",
        True,
        503,
    )
    assert str(error) == error.message
    assert "http_status" in repr(error)
