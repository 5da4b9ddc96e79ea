"""What to do with a message whose handler failed: retry after a delay, or dead-letter it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.errors import PermanentFailure

ATTEMPT_HEADER = "x-aviary-attempt"


@dataclass(frozen=True)
class Retry:
    delay_ms: int


@dataclass(frozen=True)
class DeadLetter:
    reason: str


def plan_after_failure(
    attempt: int, max_attempts: int, delays_ms: Sequence[int], error: BaseException
) -> Retry | DeadLetter:
    """Exponential-ish back-off over the configured delay tiers, then the dead-letter queue.

    `attempt` counts the attempt that just failed, from 1.
    """
    if isinstance(error, PermanentFailure):
        return DeadLetter(f"permanent failure: {error}")
    if attempt >= max_attempts:
        return DeadLetter(f"failed {attempt} attempts, last: {error!r}")
    return Retry(delays_ms[min(attempt, len(delays_ms)) - 1])
