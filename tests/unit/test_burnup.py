"""A batch's burn-up: its points, its pace and the finish it forecasts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.burnup import MAX_POINTS, burnup, pace

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def minutes_ago(*minutes: float) -> list[datetime]:
    return sorted(NOW - timedelta(minutes=m) for m in minutes)


def test_a_steady_pace_forecasts_the_finish() -> None:
    # 30 items, one every 2 minutes over the last hour: 30 an hour; 60 left take 2 hours.
    times = minutes_ago(*range(58, -1, -2))
    result = burnup(times, total=90, now=NOW)
    assert (result.done, result.total) == (30, 90)
    assert result.per_hour == pytest.approx(30 / (58 / 60))
    assert result.finish_at == NOW + timedelta(hours=60 / (30 / (58 / 60)))
    assert result.points[0] == (times[0], 1) and result.points[-1] == (times[-1], 30)


def test_an_idle_batch_is_judged_by_its_whole_run_and_a_done_one_by_its_last_item() -> None:
    times = minutes_ago(300, 240, 180)  # 3 items over 2 hours, none in the last hour
    assert pace(times, NOW) == pytest.approx(1.0)
    assert burnup(times, 5, NOW).finish_at == NOW + timedelta(hours=2)
    finished = burnup(times, 3, NOW)
    assert finished.finish_at == times[-1]


def test_no_pace_without_two_items_and_a_minute_at_least() -> None:
    assert burnup([], 10, NOW).per_hour is None and burnup([], 10, NOW).finish_at is None
    assert burnup(minutes_ago(5), 10, NOW).finish_at is None
    two_quick = [NOW - timedelta(seconds=2), NOW - timedelta(seconds=1)]
    assert pace(two_quick, NOW) == pytest.approx(120)  # 2 in a minute, not 7,200 an hour


def test_a_large_batch_gives_a_bounded_number_of_points_ending_at_the_last() -> None:
    times = [NOW - timedelta(seconds=s) for s in range(10_000, 0, -1)]
    points = burnup(times, 20_000, NOW).points
    assert len(points) <= MAX_POINTS + 1 and points[-1] == (times[-1], 10_000)
    assert [n for _, n in points] == sorted(n for _, n in points)
