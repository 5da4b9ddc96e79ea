"""Unit tests for the retry plan (shared/messaging/retry.py)."""

from __future__ import annotations

import pytest

from shared.errors import PermanentFailure, RetryLater
from shared.messaging.retry import DeadLetter, Retry, plan_after_failure

DELAYS = (1_000, 5_000, 30_000, 120_000)


def test_attempts_before_the_last_retry_with_the_tiers() -> None:
    plans = [plan_after_failure(a, 5, DELAYS, RuntimeError("boom")) for a in range(1, 5)]
    assert plans == [Retry(1_000), Retry(5_000), Retry(30_000), Retry(120_000)]


def test_last_tier_repeats_when_attempts_exceed_the_tiers() -> None:
    plans = [plan_after_failure(a, 10, DELAYS, RuntimeError("boom")) for a in range(1, 10)]
    assert [p.delay_ms for p in plans if isinstance(p, Retry)] == [
        1_000, 5_000, 30_000, 120_000, 120_000, 120_000, 120_000, 120_000, 120_000,
    ]  # fmt: skip


def test_single_tier_is_used_for_every_retry() -> None:
    plans = [plan_after_failure(a, 4, [250], ValueError("x")) for a in range(1, 4)]
    assert plans == [Retry(250)] * 3


@pytest.mark.parametrize("max_attempts", [1, 2, 5, 10])
def test_last_attempt_dead_letters(max_attempts: int) -> None:
    plan = plan_after_failure(max_attempts, max_attempts, DELAYS, RuntimeError("boom"))
    assert isinstance(plan, DeadLetter)
    assert str(max_attempts) in plan.reason
    assert "boom" in plan.reason


def test_attempt_past_the_maximum_dead_letters() -> None:
    assert isinstance(plan_after_failure(7, 5, DELAYS, RuntimeError("x")), DeadLetter)


def test_every_attempt_before_the_maximum_retries() -> None:
    for attempt in range(1, 5):
        assert isinstance(plan_after_failure(attempt, 5, DELAYS, RetryLater("later")), Retry)


def test_permanent_failure_dead_letters_at_once() -> None:
    plan = plan_after_failure(1, 5, DELAYS, PermanentFailure("bad event"))
    assert isinstance(plan, DeadLetter)
    assert "permanent" in plan.reason
    assert "bad event" in plan.reason


def test_permanent_failure_subclass_dead_letters_at_once() -> None:
    class Poison(PermanentFailure):
        pass

    assert isinstance(plan_after_failure(2, 5, DELAYS, Poison("poison")), DeadLetter)
