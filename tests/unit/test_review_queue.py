"""The review desk's in-memory queue: oldest first per vendor, skips, refreshes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.review.queue import ReviewQueue

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def unit(unit_id: str, vendor: str = "v", age_s: float = 0, **extra: object) -> dict[str, object]:
    return {
        "_id": unit_id,
        "vendor_id": vendor,
        "queued_at": T0 - timedelta(seconds=age_s),
        **extra,
    }


def test_oldest_first_within_a_vendor_and_vendors_apart() -> None:
    queue = ReviewQueue()
    queue.add(unit("new", age_s=1))
    queue.add(unit("old", age_s=9))
    queue.add(unit("other", vendor="w", age_s=99))
    assert queue.take("v")["_id"] == "old"  # type: ignore[index]
    assert queue.take("v")["_id"] == "new"  # type: ignore[index]
    assert queue.take("v") is None
    assert len(queue) == 1


def test_a_unit_the_caller_may_not_take_stays_for_others() -> None:
    queue = ReviewQueue()
    queue.add(unit("mine", age_s=5, rejected_by="r1"))
    queue.add(unit("theirs", age_s=1, rejected_by="r2"))
    taken = queue.take("v", lambda d: d["rejected_by"] != "r1")
    assert taken is not None and taken["_id"] == "theirs"
    assert queue.take("v", lambda d: d["rejected_by"] != "r1") is None
    assert queue.take("v")["_id"] == "mine"  # type: ignore[index]


def test_removed_and_requeued_units_are_handed_out_once() -> None:
    queue = ReviewQueue()
    queue.add(unit("a", age_s=5))
    queue.add(unit("b", age_s=3))
    queue.remove("a")
    queue.add(unit("b", age_s=0))  # queued again later (its review lease ran out)
    queue.add(unit("b", age_s=0))  # and read again by a sync
    assert queue.take("v")["_id"] == "b"  # type: ignore[index]
    assert queue.take("v") is None


def test_replace_all_forgets_what_is_gone() -> None:
    queue = ReviewQueue()
    queue.add(unit("gone"))
    queue.replace_all([unit("kept")])
    assert "gone" not in queue and "kept" in queue
