"""Breaks: a pause of ten minutes or more between one task's end and the next one's start,
the same day, counted by the work clock and written with the time worked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.dispatch.work import BREAK_GAP, WorkClock, is_break
from services.dispatch.worklimits import day_of
from shared.settings import Settings
from tests.support import SetClock

NOON = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class WrittenWork:
    """Records what the clock writes (the store's one call it makes here)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any]] = []

    async def add_worked(self, seconds: Any, breaks: Any = None) -> None:
        self.calls.append((dict(seconds), dict(breaks or {})))

    async def add_handling_times(self, seconds: Any) -> None:
        pass


def test_a_break_is_a_long_enough_pause_the_same_day() -> None:
    assert is_break(NOON, NOON + BREAK_GAP)
    assert not is_break(NOON, NOON + BREAK_GAP - timedelta(seconds=1))
    late = datetime(2026, 12, 6, 23, 55, tzinfo=UTC)
    assert not is_break(late, late + timedelta(hours=9))  # the next morning: a new day


async def test_the_clock_counts_breaks_and_writes_them_with_the_time_worked() -> None:
    store = WrittenWork()
    wall = SetClock(NOON)  # breaks and days must not depend on when the suite runs
    clock = WorkClock(store, Settings(), now=wall)  # type: ignore[arg-type]
    clock.add("v", "ann", 30.0, started_at=None)  # the first task of the day
    clock.add("v", "ann", 20.0, started_at=NOON + timedelta(seconds=5))  # straight on
    wall.now = NOON + timedelta(seconds=25)
    clock.add("v", "ann", 10.0, started_at=wall.now + BREAK_GAP + timedelta(minutes=1))
    clock.add("v", "other", 5.0, started_at=NOON + BREAK_GAP * 2)  # their first: no break
    await clock.flush()
    today = day_of(NOON)
    [(seconds, breaks)] = store.calls
    assert seconds == {("v", "ann", today): 60.0, ("v", "other", today): 5.0}
    assert breaks == {("v", "ann", today): 1}
    await clock.flush()
    assert len(store.calls) == 1  # nothing new: nothing written


async def test_a_pause_across_midnight_is_no_break_and_each_day_gets_its_own_time() -> None:
    store = WrittenWork()
    late = datetime(2026, 12, 6, 23, 55, tzinfo=UTC)
    wall = SetClock(late)
    clock = WorkClock(store, Settings(), now=wall)  # type: ignore[arg-type]
    clock.add("v", "ann", 30.0, started_at=None)
    wall.now = late + timedelta(minutes=20)  # 00:15 the next day, after a 20-minute pause
    clock.add("v", "ann", 10.0, started_at=late + timedelta(minutes=15))
    await clock.flush()
    [(seconds, breaks)] = store.calls
    assert seconds == {("v", "ann", "2026-12-06"): 30.0, ("v", "ann", "2026-12-07"): 10.0}
    assert breaks == {}
