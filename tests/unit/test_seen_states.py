"""A pool read of what changed skips the tasks the process has seen in their present state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.dispatch.pool import SeenStates

T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_a_task_seen_as_it_is_is_skipped_even_at_the_databases_precision() -> None:
    seen = SeenStates(10)
    seen.note({"_id": "t1", "pending_since": T0})
    # The database keeps milliseconds: what it gives back is the same instant.
    assert seen.saw({"_id": "t1", "pending_since": T0.replace(microsecond=123000)})


def test_a_task_that_changed_since_or_was_never_seen_is_read() -> None:
    seen = SeenStates(10)
    seen.note({"_id": "t1", "pending_since": T0})
    assert not seen.saw({"_id": "t1", "pending_since": T0 + timedelta(milliseconds=1)})
    assert not seen.saw({"_id": "t2", "pending_since": T0})
    seen.note({"_id": "t1", "pending_since": T0 + timedelta(seconds=5)})
    assert not seen.saw({"_id": "t1", "pending_since": T0})


def test_the_oldest_seen_is_forgotten_first_and_a_task_without_a_stamp_is_not_noted() -> None:
    seen = SeenStates(2)
    seen.note({"_id": "a", "pending_since": T0})
    seen.note({"_id": "b", "pending_since": T0})
    seen.note({"_id": "a", "pending_since": T0})  # seen again: now the youngest
    seen.note({"_id": "c", "pending_since": T0})
    assert seen.saw({"_id": "a", "pending_since": T0})
    assert not seen.saw({"_id": "b", "pending_since": T0})
    seen.note({"_id": "d"})
    assert not seen.saw({"_id": "d", "pending_since": T0})
