"""Long-polling: calls that wait for work to appear (dispatch's `next`, the review desk's).

A waiting call tries, and on a miss waits for news (`wake`) or a short recheck interval,
whichever comes first; on each miss it may also read what other replicas queued, which a
caller rate-limits itself. Waiting costs no CPU and no database reads beyond that.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

# How often a waiting call tries again without news (and may read other replicas' work).
RECHECK_S = 1.0


class Waiters:
    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def wake(self) -> None:
        """Release every waiting call; later ones wait on a fresh event for the next news."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def poll(
        self,
        attempt: Callable[[], Awaitable[T | None]],
        wait_s: float,
        on_miss: Callable[[], Awaitable[None]],
    ) -> T | None:
        """`attempt` now, and again on news, until it finds something or `wait_s` passes.
        `on_miss` runs after each miss; news it finds (a `wake`) ends the wait at once."""
        deadline = time.monotonic() + wait_s
        while True:
            changed = self._changed
            found = await attempt()
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            await on_miss()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=min(remaining, RECHECK_S))
