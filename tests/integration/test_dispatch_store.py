"""Dispatch's tasks and leases against real SecantusDB: pool reads of what changed since the
last read (less what the process has already seen as it is), the sweep that frees abandoned
leases from any process, the processes' shares and the counts by state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from aviary_devkit.bench import dispatch_bench
from services.dispatch.deps import DispatchParts
from services.dispatch.leases import LeaseLost
from services.dispatch.leases.repository import READ_CHUNK
from services.dispatch.leases.slots import open_entry
from services.dispatch.pool import SeenStates
from services.dispatch.stats_api import count_by_state
from services.dispatch.store import TaskStore
from shared.events import Annotation
from shared.runtime import Runtime
from shared.settings import Settings
from shared.store.mongo import utcnow
from tests.support import service_runtime

TASKS = 3 * READ_CHUNK  # enough to read through the groups, not id by id
BOX = Annotation.model_validate({"shapes": [{"class_id": 1, "bbox": [10, 10, 50, 40]}]})


@pytest.fixture
async def parts(settings: Settings) -> AsyncIterator[DispatchParts]:
    await dispatch_bench.seed(settings, TASKS)
    async with service_runtime("dispatch", settings) as runtime:
        yield DispatchParts.build(runtime)


@pytest.fixture
def store(parts: DispatchParts) -> TaskStore:
    return parts.tasks


def ids(docs: list[dict[str, object]]) -> set[object]:
    return {d["_id"] for d in docs}


async def test_a_read_of_changes_returns_what_the_process_has_not_seen(
    store: TaskStore,
) -> None:
    since = utcnow() - timedelta(minutes=1)
    everything = await store.load_pending()
    assert len(everything) == TASKS
    seen = SeenStates(10 * TASKS)
    assert ids(await store.load_changed(since, seen.saw)) == ids(everything)

    # Seen as they are: nothing to read; one seen, the others not: the others.
    seen.note_all(everything)
    assert await store.load_changed(since, seen.saw) == []
    partly = SeenStates(10 * TASKS)
    partly.note(everything[0])
    assert ids(await store.load_changed(since, partly.saw)) == ids(everything[1:])


async def test_a_task_pending_again_is_read_with_its_new_state_and_a_done_one_is_not(
    store: TaskStore,
) -> None:
    since = utcnow() - timedelta(minutes=1)
    everything = await store.load_pending()
    seen = SeenStates(10 * TASKS)
    seen.note_all(everything)
    freed, done = everything[0]["_id"], everything[1]["_id"]
    # Another process freed one (a new slot) and someone finished another (off its open list).
    await store.tasks.update_one(
        {"_id": freed}, {"$set": {"next_slot": 1, "pending_since": utcnow()}}
    )
    group = everything[1]["group"]
    await store.open_lists.groups.update_one(
        {"_id": group}, {"$pull": {"open": open_entry(str(done), 0)}}
    )
    await store.tasks.update_one({"_id": done}, {"$set": {"pending_since": utcnow()}})
    changed = await store.load_changed(since, seen.saw)
    assert [(t["_id"], t["next_slot"]) for t in changed] == [(freed, 1)]
    # Read from the database, not the caller's copy: the heavy parts are left out.
    assert "pre_annotation" not in changed[0]


async def test_the_sweep_frees_only_abandoned_leases_once_from_any_process(
    parts: DispatchParts, settings: Settings
) -> None:
    leases, ttl = parts.leases, timedelta(seconds=settings.lease_ttl_s)
    tasks = (await parts.tasks.load_pending())[:4]
    now = utcnow()
    early = await leases.take(tasks[0], "ann-0", tasks[0]["vendor_id"], now - ttl / 2)
    held = [await leases.take(t, f"ann-{i}", t["vendor_id"], now) for i, t in enumerate(tasks[1:])]
    assert early is not None and all(held)
    submitted, released, kept = [h for h in held if h is not None]
    await leases.submit(submitted, BOX)
    await leases.give_back(released)

    # Before any lease's end nothing is freed; after the early one's, only that one: the
    # others ended (submitted, released) or have not expired.
    assert await leases.sweep(now) == []
    freed = await leases.sweep(now + ttl * 0.75)
    assert [(t["_id"], t["next_slot"]) for t in freed] == [(early.task["_id"], 1)]
    # Another process sweeping the same range frees nothing again.
    other = DispatchParts.build(parts.runtime).leases
    assert await other.sweep(now + ttl * 0.75 + timedelta(milliseconds=5)) == []

    # Its holder comes back: nobody took the task meanwhile, so it is leased again in the
    # next slot. Past every lease's end, both are freed (once), and a newcomer takes the kept
    # task; its old holder's submit is then refused.
    assert (await leases.heartbeat(early)).slot == early.lease.slot + 1
    late = utcnow() + ttl + timedelta(seconds=1)
    freed = await other.sweep(late)
    assert {t["_id"] for t in freed} == {early.task["_id"], kept.task["_id"]}
    assert await other.sweep(late + timedelta(milliseconds=5)) == []
    fresh = next(t for t in freed if t["_id"] == kept.task["_id"])
    assert await other.take(fresh, "newcomer", fresh["vendor_id"], utcnow())
    with pytest.raises(LeaseLost):
        await leases.submit(kept, BOX)


async def test_a_sweep_pages_through_many_expired_leases(
    parts: DispatchParts,
) -> None:
    small = DispatchParts.build(
        Runtime("dispatch", parts.runtime.settings.model_copy(update={"lease_sweep_page": 10}))
    )
    now = utcnow()
    pending = await parts.tasks.load_pending()
    for i, task in enumerate(pending[:25]):
        assert await small.leases.take(task, f"ann-{i}", task["vendor_id"], now)
    end = now + timedelta(seconds=parts.runtime.settings.lease_ttl_s + 1)
    freed: set[str] = set()
    for _ in range(5):
        freed |= {t["_id"] for t in await small.leases.sweep(end)}
    assert freed == {t["_id"] for t in pending[:25]}
    await small.runtime.mongo_client.close()


async def test_processes_split_the_pool_among_the_live_ones_and_forget_the_gone(
    parts: DispatchParts, settings: Settings
) -> None:
    first, second = parts.replicas, DispatchParts.build(parts.runtime).replicas
    await first.beat(0, [])
    await second.beat(0, [])
    shares = {await first.beat(2, ["ann-1"]), await second.beat(0, [])}
    assert {(s.index, s.count) for s in shares} == {(0, 2), (1, 2)}
    await second.leave()
    assert (await first.beat(0, [])).count == 1
    long_ago = utcnow() - timedelta(hours=2)
    await first.replicas.update_one({"_id": first.replica_id}, {"$set": {"seen_at": long_ago}})
    assert await first.forget_gone() == 1


async def test_tasks_are_counted_by_state_without_reading_them(parts: DispatchParts) -> None:
    store = parts.tasks
    await parts.replicas.beat(3, ["ann-1", "ann-2"])
    counts, working = await count_by_state(parts, pending=100)
    assert counts == {
        "pending": 100,
        "leased": 3,
        "flagged": 0,
        "dropped": 0,
        "submitted": TASKS - 103,
    }
    assert working == 2
    # A deployment whose tasks predate the counts gets them once, at start.
    await store.counts.delete_many({})
    await store.count_existing_tasks()
    await store.count_existing_tasks()
    assert (await count_by_state(parts, pending=TASKS - 3))[0]["submitted"] == 0
    assert sum([d["n"] async for d in store.counts.find({})]) == TASKS
