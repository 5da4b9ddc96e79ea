"""The pending-task pool: order, overlap, rework preference and backlog takeover."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.dispatch.pool import TaskPool

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)


def task(
    task_id: str,
    *,
    vendor: str = "v1",
    item: str | None = None,
    priority: int = 0,
    deadline: datetime = NO_DEADLINE,
    age_s: float = 0,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "_id": task_id,
        "item_id": item or f"item-{task_id}",
        "vendor_id": vendor,
        "allowed_vendors": extra.pop("allowed", [vendor]),
        "priority": priority,
        "deadline": deadline,
        "created_at": T0 - timedelta(seconds=age_s),
        "blocked_annotators": [],
        "status": "pending",
        **extra,
    }


def take_all(pool: TaskPool, annotator: str = "a", vendor: str = "v1") -> list[str]:
    taken = []
    while (pick := pool.take(vendor, annotator, T0)) is not None:
        taken.append(pick.entry.id)
    return taken


def test_order_is_priority_then_deadline_then_age() -> None:
    pool = TaskPool()
    pool.add(task("old", age_s=100))
    pool.add(task("new", age_s=1))
    pool.add(task("urgent", priority=5))
    pool.add(task("due-soon", deadline=T0 + timedelta(hours=1)))
    pool.add(task("due-later", deadline=T0 + timedelta(days=1), age_s=500))
    assert take_all(pool) == ["urgent", "due-soon", "due-later", "old", "new"]
    assert len(pool) == 0


def test_a_videos_clips_made_at_once_go_out_in_order_whatever_their_ids() -> None:
    pool = TaskPool()
    for index, task_id in ((2, "a-last"), (0, "z-first"), (1, "m-middle")):
        pool.add(task(task_id, item="video", clip={"index": index, "count": 3}))
    assert take_all(pool) == ["z-first", "m-middle", "a-last"]


def test_a_vendor_takes_only_its_own_tasks_without_takeover() -> None:
    pool = TaskPool()
    pool.add(task("mine"))
    pool.add(task("theirs", vendor="v2", allowed=["v1", "v2"], age_s=1000))
    assert take_all(pool) == ["mine"]
    assert "theirs" in pool and len(pool) == 1


def test_idle_capacity_takes_backlog_old_enough_from_allowed_projects_only() -> None:
    pool = TaskPool()
    pool.add(task("young", vendor="v2", allowed=["v1", "v2"], age_s=5))
    pool.add(task("not-allowed", vendor="v2", allowed=["v2"], age_s=1000))
    pool.add(task("old", vendor="v2", allowed=["v1", "v2"], age_s=100))
    steal_after = T0 - timedelta(seconds=60)
    pick = pool.take("v1", "a", T0, steal_after)
    assert pick is not None and pick.entry.id == "old" and pick.vendor_id == "v1"
    assert pool.take("v1", "a", T0, steal_after) is None
    assert "young" in pool and "not-allowed" in pool and len(pool) == 2


def test_overlap_blocks_the_other_copies_for_the_same_annotator() -> None:
    pool = TaskPool()
    pool.add(task("copy-0", item="x"))
    pool.add(task("copy-1", item="x"))
    first = pool.take("v1", "a", T0)
    assert first is not None
    pool.block("x", "a")
    assert pool.take("v1", "a", T0) is None
    second = pool.take("v1", "b", T0)
    assert second is not None and second.entry.id != first.entry.id


def test_gold_tasks_of_an_item_are_not_its_copies_and_each_can_reach_the_same_annotator() -> None:
    pool = TaskPool()
    pool.add(task("copy", item="x"))
    pool.add(task("gold-1", item="x", gold_id="g", age_s=2))
    pool.add(task("gold-2", item="x", gold_id="g", age_s=1))
    assert pool.take("v1", "a", T0).entry.id == "gold-1"  # type: ignore[union-attr]
    pool.block("x", "a")
    # The next gold task of the known item still comes; the item's real copy does not.
    assert take_all(pool) == ["gold-2"]
    assert "copy" in pool
    pool.remove("gold-2")  # removing a gold task leaves the copies' index alone
    assert pool.take("v1", "b", T0).entry.id == "copy"  # type: ignore[union-attr]


def test_blocked_annotators_from_the_database_are_respected() -> None:
    pool = TaskPool()
    pool.add(task("t", blocked_annotators=["a"]))
    assert pool.take("v1", "a", T0) is None
    assert pool.take("v1", "b", T0) is not None


def test_rework_goes_to_its_annotator_first_then_to_anyone_after_the_wait() -> None:
    pool = TaskPool()
    pool.add(task("fresh", priority=9))
    pool.add(task("rework", preferred_annotator="a", preferred_until=T0 + timedelta(minutes=10)))
    assert pool.take("v1", "b", T0).entry.id == "fresh"  # type: ignore[union-attr]
    assert pool.take("v1", "b", T0) is None  # reserved for a
    later = T0 + timedelta(minutes=11)
    assert pool.take("v1", "b", later).entry.id == "rework"  # type: ignore[union-attr]


def test_own_rework_comes_before_higher_priority_work() -> None:
    pool = TaskPool()
    pool.add(task("fresh", priority=9))
    pool.add(task("rework", preferred_annotator="a", preferred_until=T0 + timedelta(minutes=10)))
    assert take_all(pool, "a") == ["rework", "fresh"]


def test_refreshing_a_task_replaces_it_and_removed_tasks_are_never_offered() -> None:
    pool = TaskPool()
    pool.add(task("t", priority=0))
    pool.add(task("u", priority=1))
    pool.add(task("t", priority=2))  # the same task, read again
    pool.remove("u")
    assert take_all(pool) == ["t"]


def test_replace_all_rebuilds_from_what_is_pending() -> None:
    pool = TaskPool()
    pool.add(task("gone"))
    pool.replace_all([task("a1"), task("a2", age_s=10)])
    assert "gone" not in pool
    assert take_all(pool) == ["a2", "a1"]


def test_a_task_refreshed_many_times_keeps_one_place_in_the_queue() -> None:
    pool = TaskPool()
    for _ in range(3):
        pool.add(task("t"))  # the same document read again, identical sort key
    pool.add(task("u", age_s=1))
    assert take_all(pool) == ["u", "t"]


def test_with_several_processes_each_prefers_its_share_then_takes_any() -> None:
    from services.dispatch.pool import Share

    pools = [TaskPool(), TaskPool()]
    for index, pool in enumerate(pools):
        pool.share = Share(index=index, count=2)
        for i in range(20):
            pool.add(task(f"t{i:02d}", age_s=100 - i))
    firsts = [take_all(pool)[:5] for pool in pools]
    assert not set(firsts[0]) & set(firsts[1])  # no race for the same tasks
    assert all(pools[0].share.mine(t) for t in firsts[0])
    assert all(pools[1].share.mine(t) for t in firsts[1])
    alone = TaskPool()
    alone.share = Share(index=0, count=2)
    foreign = next(f"x{i}" for i in range(100) if not alone.share.mine(f"x{i}"))
    alone.add(task(foreign))
    assert take_all(alone) == [foreign]  # nothing of its own: it takes the rest


def test_least_sure_pre_labels_go_first_within_priority_and_deadline() -> None:
    pool = TaskPool()
    pool.add(task("sure", confidence_rank=0.9, age_s=100))
    pool.add(task("unsure", confidence_rank=0.2))
    pool.add(task("plain", age_s=1000))  # no pre-labels, or a project that did not ask
    pool.add(task("urgent", priority=5, confidence_rank=0.95))
    pool.add(task("due", deadline=T0 + timedelta(hours=1), confidence_rank=1.0))
    assert take_all(pool) == ["urgent", "due", "unsure", "sure", "plain"]


def test_without_confidence_first_tasks_sort_by_age_as_before() -> None:
    pool = TaskPool()
    pool.add(task("young", confidence_rank=1.0, age_s=1))
    pool.add(task("old", age_s=50))
    pool.add(task("older", confidence_rank=1.0, age_s=60))
    assert take_all(pool) == ["older", "old", "young"]
