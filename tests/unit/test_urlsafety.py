"""URL checks against calling inward addresses: literal ones when a URL is handed over, and
resolved ones before each connection (names resolved through the system resolver)."""

from __future__ import annotations

import pytest

from shared.security.urlsafety import (
    UnsafeUrl,
    check_url,
    literal_addresses,
    parse_networks,
    refuse_inward_literal,
)
from tests.corpus.hostile import INWARD_URLS


@pytest.mark.parametrize("url", INWARD_URLS)
def test_inward_urls_are_refused_without_dns(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        refuse_inward_literal(url, [])


@pytest.mark.parametrize(
    "url", ["https://hooks.example.org/aviary", "http://93.184.216.34/x", "https://[2606:4700::1]/"]
)
def test_public_urls_and_names_pass_the_literal_check(url: str) -> None:
    refuse_inward_literal(url, [])


def test_an_allow_listed_network_is_let_through() -> None:
    refuse_inward_literal("http://127.0.0.1:9000/hook", parse_networks(["127.0.0.0/8"]))


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.1", ["127.0.0.1"]),
        ("2130706433", ["127.0.0.1"]),
        ("0x7f000001", ["127.0.0.1"]),
        ("localhost", ["127.0.0.1", "::1"]),
        ("api.localhost", ["127.0.0.1", "::1"]),
        ("[::1]", ["::1"]),
        ("example.org", []),
    ],
)
def test_literal_addresses_reads_every_notation(host: str, expected: list[str]) -> None:
    assert [str(a) for a in literal_addresses(host)] == expected


async def test_a_name_resolving_inward_is_refused_before_sending() -> None:
    # localhost resolves from the hosts file, so this needs no DNS server.
    with pytest.raises(UnsafeUrl):
        await check_url("http://localhost:9/hook", [])
