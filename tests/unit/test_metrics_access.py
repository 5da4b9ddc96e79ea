"""Who reads /metrics (shared/web/metrics.py): the operator key or the metrics token on the
API's port, checked in constant time; anyone on the internal metrics port."""

from __future__ import annotations

import socket
import urllib.request

from pydantic import SecretStr

from shared.settings import Settings
from shared.web.metrics import may_read, serve_internal


def settings(**fields: object) -> Settings:
    return Settings().model_copy(update=fields)


def test_the_operator_key_and_the_metrics_token_read_nothing_else_does() -> None:
    plain = settings()
    operator = plain.operator_key.get_secret_value()
    assert may_read(plain, f"Bearer {operator}")
    assert may_read(plain, f"bearer {operator}")
    assert not may_read(plain, None)
    assert not may_read(plain, "")
    assert not may_read(plain, operator)  # no scheme
    assert not may_read(plain, f"Basic {operator}")
    assert not may_read(plain, "Bearer ")
    assert not may_read(plain, "Bearer scraper-token-0123456789")  # no metrics token set
    scraped = settings(metrics_token=SecretStr("scraper-token-0123456789"))
    assert may_read(scraped, "Bearer scraper-token-0123456789")
    assert not may_read(scraped, "Bearer scraper-token-012345678")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_internal_port_serves_the_exposition_without_a_token() -> None:
    port = free_port()
    internal = settings(metrics_port=port, host="127.0.0.1")
    serve_internal(internal)
    serve_internal(internal)  # a second app in the process: the port is served once
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as answer:
        assert answer.status == 200
        assert b"python_info" in answer.read()
