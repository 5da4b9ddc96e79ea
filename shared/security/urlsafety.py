"""Refusing outbound requests to inward addresses (SSRF): loopback, private, link-local, metadata.

A URL is checked by resolving its host and looking at every address it resolves to; any
inward address refuses the URL unless an allow-list network contains it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class UnsafeUrl(ValueError):
    """The URL may not be fetched or called; the message says why."""


def parse_networks(cidrs: Sequence[str]) -> list[IPNetwork]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def is_inward(address: IPAddress) -> bool:
    """Addresses a platform must never be tricked into calling on a tenant's behalf."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def check_address(address: IPAddress, allowed: Sequence[IPNetwork]) -> None:
    if is_inward(address) and not any(address in net for net in allowed):
        raise UnsafeUrl(f"address {address} is not a public address")


async def check_url(url: str, allowed: Sequence[IPNetwork]) -> None:
    """Raise UnsafeUrl unless `url` is http(s) and every address of its host is allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("only http and https URLs with a host are allowed")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, port, type=socket.SOCK_STREAM
        )
    except socket.gaierror as exc:
        raise UnsafeUrl(f"host {parts.hostname} does not resolve") from exc
    for info in infos:
        check_address(ipaddress.ip_address(info[4][0]), allowed)


_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")


def is_local_name(host: str) -> bool:
    """Names that mean this machine whatever DNS says: localhost and *.localhost (RFC 6761)."""
    name = host.rstrip(".").lower()
    return name in _LOCAL_NAMES or name.endswith(".localhost")


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address carried inside an IPv6 one (IPv4-mapped, 6to4, NAT64 well-known prefix)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def check_target(address: IPAddress, allowed: Sequence[IPNetwork]) -> None:
    """Stricter `check_address` for an address about to be connected to.

    Besides `is_inward`, refuses every address that is not globally routable (e.g. the
    100.64.0.0/10 shared space some clouds put metadata services in), checks the IPv4 address
    inside 6to4/NAT64/IPv4-mapped addresses too, and refuses the unspecified address (0.0.0.0,
    ::) whatever the allow-list says, since connecting to it reaches this machine.
    """
    inner = embedded_ipv4(address)
    mapped = isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None
    # An IPv4-mapped address is its IPv4 address; 6to4/NAT64 ones are checked both ways.
    for candidate in (inner,) if mapped else (address, inner):
        if candidate is None:
            continue
        if candidate.is_unspecified:
            raise UnsafeUrl(f"address {address} is the unspecified address")
        unsafe = is_inward(candidate) or not candidate.is_global
        if unsafe and not any(candidate in net for net in allowed):
            raise UnsafeUrl(f"address {address} is not a public address")


async def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, in getaddrinfo's order, without repeats.

    getaddrinfo also normalises numeric forms (2130706433, 0x7f000001, 0177.0.0.1, 127.1), so
    checking its results catches them. Raises socket.gaierror when the name does not resolve.
    """
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


class Unresolved(Exception):
    """The host has no address now; `transient` when asking again later may give one."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


Resolve = Callable[[str, int], Awaitable[list[IPAddress]]]


async def resolve_checked(
    host: str, port: int, allowed: Sequence[IPNetwork], resolve: Resolve = resolve_host
) -> list[IPAddress]:
    """Every address of `host`, each checked: what an outbound request may then be pinned to.
    Raises UnsafeUrl (this machine's name, or any address refused), Unresolved, or ValueError
    for a name that is no name."""
    if is_local_name(host):
        raise UnsafeUrl(f"host {host} is this machine")
    try:
        addresses = await resolve(host, port)
    except socket.gaierror as exc:
        transient = exc.errno == socket.EAI_AGAIN
        raise Unresolved(f"host {host} does not resolve", transient=transient) from exc
    except UnicodeError as exc:
        raise ValueError(f"host {host} is not a valid name") from exc
    if not addresses:
        raise Unresolved(f"host {host} has no address", transient=True)
    try:
        for address in addresses:
            check_target(address, allowed)
    except UnsafeUrl as exc:
        raise UnsafeUrl(f"{host}: {exc}") from exc
    return addresses


LOCAL_ADDRESSES: tuple[IPAddress, ...] = (
    ipaddress.IPv4Address("127.0.0.1"),
    ipaddress.IPv6Address("::1"),
)


def literal_addresses(host: str) -> tuple[IPAddress, ...]:
    """The addresses a host names without DNS: an IP in any notation (127.1, 2130706433,
    0x7f000001, [::1]) or a local name (both loopbacks); () for a name DNS must answer."""
    if is_local_name(host):
        return LOCAL_ADDRESSES
    try:
        return (ipaddress.ip_address(host.strip("[]")),)
    except ValueError:
        pass
    try:
        return (ipaddress.IPv4Address(socket.inet_aton(host)),)
    except OSError:
        return ()


def refuse_inward_literal(url: str, allowed: Sequence[IPNetwork]) -> None:
    """For a URL a tenant hands over for later (a webhook, an import), checked without DNS:
    refuse other schemes than http(s) and hosts that are inward addresses written out. Names
    are checked when resolved, before every connection (`check_target`)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("only http and https URLs with a host are allowed")
    for address in literal_addresses(parts.hostname):
        check_target(address, allowed)
