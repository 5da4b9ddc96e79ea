"""Fetching a client's image URL without letting the client aim us at our own network (SSRF).

Every request, the first and each redirect hop, goes through the same steps:

1. parse the URL (httpx's parser): http/https only, a host, no userinfo, no IPv6 zone id;
2. refuse localhost names outright, resolve the host (getaddrinfo, which also normalises numeric
   tricks such as ``2130706433`` or ``0x7f000001``) and refuse when ANY address is inward
   (`shared.security.urlsafety.check_target`) unless `FetchLimits.allowed_networks` contains it;
3. connect to a checked address, never to the name: the request URL carries the IP, the
   ``Host`` header the original host, and for https the original name goes to TLS as SNI and
   for certificate checking through httpcore's ``sni_hostname`` request extension. A DNS answer
   that changes between the check and the connection (rebinding) therefore cannot matter;
4. follow redirects by hand (301/302/303/307/308, always as GET), counting hops;
5. stream the body, refusing it once it passes `FetchLimits.max_bytes` (or at once when
   Content-Length says so); ``Accept-Encoding: identity`` is asked for and the raw bytes are
   counted, so a compressed body cannot inflate past the limit.

The request is an `httpx.Request` built here and sent with ``client.send(..., auth=None,
follow_redirects=False)``: none of the client's default headers, cookies, auth or base URL go
to the client-chosen host. Use a client made for fetching: ``trust_env=False`` and no proxy (a
proxy would do the connecting), HTTP/1.1.

Name resolution can be replaced with the keyword argument ``resolve`` (tests use it to make
made-up names resolve); the default is `shared.security.urlsafety.resolve_host`.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

import httpx

from shared.security.urlsafety import (
    IPAddress,
    IPNetwork,
    Resolve,
    Unresolved,
    UnsafeUrl,
    resolve_checked,
    resolve_host,
)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "aviary-url-import/1"


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int  # refuse bodies larger than this, counted while streaming
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0  # per read
    total_timeout_s: float = 30.0  # whole fetch including redirects
    max_redirects: int = 3
    allowed_networks: tuple[IPNetwork, ...] = ()  # CIDRs allowed despite being inward


class FetchError(Exception):
    """Why a fetch failed.

    code: "unsafe_url", "too_large", "timeout", "http_status", "too_many_redirects", "bad_url"
    or "connection_failed"; retryable: whether trying again later may succeed (timeouts,
    connection errors, HTTP 5xx and 429). `status` is the HTTP status for "http_status".
    """

    def __init__(
        self, code: str, message: str, *, retryable: bool, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.status = status

    def __repr__(self) -> str:
        return f"FetchError({self.code!r}, {self.message!r}, retryable={self.retryable})"


@dataclass(frozen=True)
class _Target:
    url: httpx.URL  # as the client wrote it (redirects are resolved against it)
    host: str  # ASCII (IDNA) host, no brackets
    port: int


def _parse(url: str | httpx.URL) -> _Target:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchError("bad_url", f"not a valid URL: {exc}", retryable=False) from exc
    if parsed.scheme not in ("http", "https"):
        raise FetchError("bad_url", "only http and https URLs can be fetched", retryable=False)
    if parsed.userinfo:
        raise FetchError("bad_url", "URLs with user:password@ are refused", retryable=False)
    try:
        host = parsed.raw_host.decode("ascii")
    except UnicodeDecodeError as exc:  # pragma: no cover - httpx hands out ASCII hosts
        raise FetchError("bad_url", "the URL's host is not ASCII", retryable=False) from exc
    if not host:
        raise FetchError("bad_url", "the URL has no host", retryable=False)
    if "%" in host:
        raise FetchError("bad_url", "IPv6 zone ids are refused", retryable=False)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise FetchError("bad_url", f"port {port} is out of range", retryable=False)
    return _Target(url=parsed.copy_with(fragment=None), host=host, port=port)


async def _checked_addresses(
    target: _Target, limits: FetchLimits, resolve: Resolve
) -> list[IPAddress]:
    """Every address of the target's host, all checked; refused if any one is not allowed."""
    try:
        return await resolve_checked(target.host, target.port, limits.allowed_networks, resolve)
    except UnsafeUrl as exc:
        raise FetchError("unsafe_url", str(exc), retryable=False) from exc
    except Unresolved as exc:
        raise FetchError("connection_failed", str(exc), retryable=exc.transient) from exc
    except ValueError as exc:
        raise FetchError("bad_url", str(exc), retryable=False) from exc


def _pinned_request(target: _Target, address: IPAddress, limits: FetchLimits) -> httpx.Request:
    """A GET for `target` that connects to `address`, with Host and (https) SNI set to the name."""
    ip = str(address).split("%", 1)[0]  # no scope id: link-local addresses are refused anyway
    timeout = httpx.Timeout(
        connect=limits.connect_timeout_s,
        read=limits.read_timeout_s,
        write=limits.read_timeout_s,
        pool=limits.connect_timeout_s,
    )
    extensions: dict[str, object] = {"timeout": timeout.as_dict()}
    if target.url.scheme == "https":
        extensions["sni_hostname"] = target.host
    headers = {
        "Host": target.url.netloc.decode("ascii"),
        "User-Agent": USER_AGENT,
        "Accept": "image/*, */*;q=0.5",
        "Accept-Encoding": "identity",
    }
    return httpx.Request(
        "GET", target.url.copy_with(host=ip), headers=headers, extensions=extensions
    )


def _status_error(status: int) -> FetchError:
    retryable = status >= 500 or status == 429
    return FetchError(
        "http_status", f"the server answered HTTP {status}", retryable=retryable, status=status
    )


async def _read_body(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise FetchError(
            "too_large", f"the body ({declared} bytes) exceeds {max_bytes} bytes", retryable=False
        )
    if response.is_stream_consumed:  # already in memory (httpx.MockTransport with content=)
        if len(response.content) > max_bytes:
            raise FetchError("too_large", f"the body exceeds {max_bytes} bytes", retryable=False)
        return response.content
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError("too_large", f"the body exceeds {max_bytes} bytes", retryable=False)
        parts.append(chunk)
    return b"".join(parts)


async def _send(
    client: httpx.AsyncClient, target: _Target, addresses: list[IPAddress], limits: FetchLimits
) -> httpx.Response:
    """Open a streamed response from the first checked address that accepts a connection."""
    *others, last = addresses
    for address in others:
        try:
            return await client.send(
                _pinned_request(target, address, limits),
                stream=True,
                auth=None,
                follow_redirects=False,
            )
        except httpx.ConnectError:
            continue  # another checked address of the same host may answer
    return await client.send(
        _pinned_request(target, last, limits), stream=True, auth=None, follow_redirects=False
    )


async def _fetch(
    client: httpx.AsyncClient, url: str, limits: FetchLimits, resolve: Resolve
) -> bytes:
    target = _parse(url)
    hops = 0
    while True:
        addresses = await _checked_addresses(target, limits, resolve)
        response = await _send(client, target, addresses, limits)
        try:
            status = response.status_code
            location = response.headers.get("Location")
            if status in REDIRECT_STATUSES and location:
                hops += 1
                if hops > limits.max_redirects:
                    raise FetchError(
                        "too_many_redirects",
                        f"more than {limits.max_redirects} redirects",
                        retryable=False,
                    )
                try:
                    next_url = target.url.join(location)
                except (httpx.InvalidURL, ValueError) as exc:
                    raise FetchError("bad_url", f"bad redirect: {exc}", retryable=False) from exc
                target = _parse(next_url)
                continue
            if not 200 <= status < 300:
                raise _status_error(status)
            return await _read_body(response, limits.max_bytes)
        finally:
            await response.aclose()


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    limits: FetchLimits,
    *,
    resolve: Resolve = resolve_host,
) -> bytes:
    """The body at `url`, fetched under `limits`; raises FetchError, never anything from httpx.

    `client` should be created with follow_redirects=False (redirects are followed here either
    way), trust_env=False and no proxy. `resolve` maps (host, port) to addresses; every address
    it returns is checked and only those are connected to.
    """
    try:
        async with asyncio.timeout(limits.total_timeout_s):
            return await _fetch(client, url, limits, resolve)
    except TimeoutError as exc:
        raise FetchError(
            "timeout", f"the fetch took longer than {limits.total_timeout_s}s", retryable=True
        ) from exc
    except httpx.TimeoutException as exc:
        raise FetchError("timeout", f"timed out: {type(exc).__name__}", retryable=True) from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise FetchError("bad_url", str(exc), retryable=False) from exc
    except httpx.TransportError as exc:
        # Refused, reset, closed early, unreadable response; a certificate that does not
        # match or verify will not get better by retrying.
        bad_cert = _caused_by(exc, ssl.SSLCertVerificationError)
        raise FetchError(
            "connection_failed", f"{type(exc).__name__}: {exc}", retryable=not bad_cert
        ) from exc


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
