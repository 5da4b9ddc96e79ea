"""The token bucket behind per-credential rate limits (a fake clock; pure logic)."""

from __future__ import annotations

import pytest

from shared.security.ratelimit import RateLimiter, caller_key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_next_call_waits_for_one_token() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=3, clock=clock)
    assert [limiter.take("k") for _ in range(3)] == [0, 0, 0]
    assert limiter.take("k") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.take("k") == 0


def test_tokens_refill_at_the_rate_up_to_the_burst_only() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=10, burst=5, clock=clock)
    for _ in range(5):
        limiter.take("k")
    clock.now += 60  # a long pause does not bank more than the burst
    assert [limiter.take("k") for _ in range(5)] == [0] * 5
    assert limiter.take("k") > 0


def test_keys_are_limited_independently() -> None:
    limiter = RateLimiter(rate=1, burst=1, clock=Clock())
    assert limiter.take("a") == 0
    assert limiter.take("a") > 0
    assert limiter.take("b") == 0


def test_the_least_recently_seen_key_is_forgotten_beyond_the_bound() -> None:
    limiter = RateLimiter(rate=1, burst=1, max_keys=2, clock=Clock())
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
