"""Per-credential rate limits: the token bucket (a fake clock) and the middleware that answers
429 with Retry-After (an app in process, no network)."""

from __future__ import annotations

import httpx
import pytest
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from shared.security.ratelimit import RateLimit, RateLimiter, caller_key
from tests.support import SetClock


def test_a_burst_passes_then_the_next_call_waits_for_one_token() -> None:
    clock = SetClock(100.0)
    limiter = RateLimiter(rate=2, burst=3, clock=clock)
    assert [limiter.take("k") for _ in range(3)] == [0, 0, 0]
    assert limiter.take("k") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.take("k") == 0


def test_tokens_refill_at_the_rate_up_to_the_burst_only() -> None:
    clock = SetClock(100.0)
    limiter = RateLimiter(rate=10, burst=5, clock=clock)
    for _ in range(5):
        limiter.take("k")
    clock.now += 60  # a long pause does not bank more than the burst
    assert [limiter.take("k") for _ in range(5)] == [0] * 5
    assert limiter.take("k") > 0


def test_keys_are_limited_independently() -> None:
    limiter = RateLimiter(rate=1, burst=1, clock=SetClock(100.0))
    assert limiter.take("a") == 0
    assert limiter.take("a") > 0
    assert limiter.take("b") == 0


def test_the_least_recently_seen_key_is_forgotten_beyond_the_bound() -> None:
    limiter = RateLimiter(rate=1, burst=1, max_keys=2, clock=SetClock(100.0))
    limiter.take("a")
    limiter.take("b")
    limiter.take("c")  # "a" is forgotten: it starts again with a full bucket
    assert limiter.take("a") == 0
    assert limiter.take("c") > 0


def test_caller_key_never_holds_the_token_and_falls_back_to_the_address() -> None:
    scope = {"headers": [(b"authorization", b"Bearer av1.secret.sig")], "client": ("10.0.0.1", 5)}
    key = caller_key(scope)
    assert key.startswith("key:") and "secret" not in key
    assert caller_key({"headers": [], "client": ("10.0.0.1", 5)}) == "addr:10.0.0.1"


def test_the_same_token_is_one_key_and_another_token_is_another() -> None:
    def scope(token: bytes) -> dict[str, object]:
        return {"headers": [(b"authorization", b"Bearer " + token)], "client": ("10.0.0.1", 5)}

    assert caller_key(scope(b"one")) == caller_key(scope(b"one"))
    assert caller_key(scope(b"one")) != caller_key(scope(b"two"))


def _limited_app(limiter: RateLimiter) -> httpx.AsyncClient:
    async def ok(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("ok")(scope, receive, send)

    app = RateLimit(ok, limiter=limiter, exempt=frozenset({"/healthz"}))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


async def test_over_the_limit_answers_429_with_our_error_body_and_retry_after() -> None:
    clock = SetClock(100.0)
    mine = {"Authorization": "Bearer av1.mine"}
    async with _limited_app(RateLimiter(rate=0.4, burst=2, clock=clock)) as http:
        assert [(await http.get("/v1/x", headers=mine)).status_code for _ in range(2)] == [200] * 2
        refused = await http.get("/v1/x", headers=mine)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert refused.headers["retry-after"] == "3"  # 2.5 s until a token, rounded up
        # Another credential has its own bucket; the exempt paths are never counted.
        other = {"Authorization": "Bearer av1.other"}
        assert (await http.get("/v1/x", headers=other)).status_code == 200
        assert (await http.get("/healthz", headers=mine)).status_code == 200
        assert (await http.get("/ui/page.js", headers=mine)).status_code == 200
        clock.now += 2.5
        assert (await http.get("/v1/x", headers=mine)).status_code == 200


async def test_retry_after_is_at_least_one_second() -> None:
    clock = SetClock(100.0)
    async with _limited_app(RateLimiter(rate=100, burst=1, clock=clock)) as http:
        assert (await http.get("/v1/x")).status_code == 200
        refused = await http.get("/v1/x")  # a token in 10 ms: still "1", never "0"
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
