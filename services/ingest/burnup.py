"""A batch's burn-up: how many of its items are done (accepted, or dropped from it) over time,
the pace of late, and when it will be done at that pace. Pure: the times come from the items
(`ItemRepository.done_times`), the pages draw it (web/dashboard/burnup.js)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# The pace is that of the last hour of work; a batch idle for longer is judged by its whole run.
PACE_WINDOW = timedelta(hours=1)
MIN_SPAN = timedelta(minutes=1)  # two items a second apart are not 7,200 an hour
MAX_POINTS = 240  # a chart needs no more, whatever the batch's size


@dataclass(frozen=True)
class Burnup:
    points: list[tuple[datetime, int]]  # (when, items done by then), in order
    done: int
    total: int
    per_hour: float | None  # None before two items are done
    finish_at: datetime | None  # when all will be done at that pace; None without one


def burnup(times: Sequence[datetime], total: int, now: datetime) -> Burnup:
    """`times`: when each done item was done, in order; `total`: the batch's items."""
    done = len(times)
    step = max(1, -(-done // MAX_POINTS))  # every step-th item, and always the last
    points = [(t, i + 1) for i, t in enumerate(times) if (i + 1) % step == 0 or i + 1 == done]
    rate = pace(times, now)
    left = max(0, total - done)
    if left == 0 and done:
        finish: datetime | None = times[-1]
    elif rate:
        finish = now + timedelta(hours=left / rate)
    else:
        finish = None
    return Burnup(points, done, total, rate, finish)


def pace(times: Sequence[datetime], now: datetime) -> float | None:
    """Items done an hour: those of the last hour over the time since the first of them (a
    minute at least), when two or more were; else over the run from the first item done to
    the last."""
    recent = [t for t in times if t > now - PACE_WINDOW]
    if len(recent) >= 2:
        return len(recent) / _hours(max(now - recent[0], MIN_SPAN))
    if len(times) >= 2 and times[-1] > times[0]:
        return (len(times) - 1) / _hours(times[-1] - times[0])
    return None


def _hours(span: timedelta) -> float:
    return span.total_seconds() / 3600
