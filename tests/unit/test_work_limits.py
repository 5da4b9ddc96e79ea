"""Daily work limits: which limit applies, when the day turns, time worked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from services.dispatch.worklimits import (
    Defaults,
    VendorLimits,
    day_of,
    median,
    seconds_to_next_day,
    worked_seconds,
)

DEFAULTS = Defaults(daily_hours=8, intern_daily_hours=4)


def test_own_limit_beats_group_beats_default() -> None:
    limits = VendorLimits(
        groups={"night": 6.0},
        members={"n": "night", "both": "night", "i": "intern", "x": "unknown"},
        annotators={"both": 2.0, "solo": 5.0},
    )
    assert limits.daily_hours("both", DEFAULTS) == 2.0
    assert limits.daily_hours("solo", DEFAULTS) == 5.0
    assert limits.daily_hours("n", DEFAULTS) == 6.0
    assert limits.daily_hours("i", DEFAULTS) == 4.0  # interns: the platform default for them
    assert limits.daily_hours("x", DEFAULTS) == 8.0  # a group without hours: the default
    assert limits.daily_hours("nobody", DEFAULTS) == 8.0


def test_a_vendor_may_set_the_intern_group_itself() -> None:
    limits = VendorLimits(groups={"intern": 3.0}, members={"i": "intern"})
    assert limits.daily_hours("i", DEFAULTS) == 3.0


def test_days_are_utc_days() -> None:
    late = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert day_of(late) == "2026-03-02"
    assert seconds_to_next_day(datetime(2026, 3, 1, 23, 59, 30, tzinfo=UTC)) == 30
    assert seconds_to_next_day(datetime(2026, 3, 1, 0, 0, tzinfo=UTC)) == 86_400


def test_time_worked_is_never_negative_and_median_handles_even_counts() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    assert worked_seconds(t, t + timedelta(seconds=90)) == 90
    assert worked_seconds(t, t - timedelta(seconds=5)) == 0
    assert median([]) is None
    assert median([5.0, 1.0, 3.0]) == 3.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
