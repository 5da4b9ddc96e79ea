"""Dispatch's store against real SecantusDB: pool reads of what changed since the last read
(less what the process has already seen as it is), and takeovers of a silent process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from aviary_devkit.bench import dispatch_bench
from services.dispatch.claims import open_entry
from services.dispatch.pool import SeenStates
from services.dispatch.store import READ_CHUNK, DispatchStore
from shared.runtime import Runtime
from shared.settings import Settings
from shared.store.mongo import utcnow

TASKS = 3 * READ_CHUNK  # enough to read through the groups, not id by id


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[DispatchStore]:
    await dispatch_bench.seed(settings, TASKS)
    runtime = Runtime("dispatch", settings, "api")
    yield DispatchStore(runtime)
    await runtime.mongo_client.close()


def ids(docs: list[dict[str, object]]) -> set[object]:
    return {d["_id"] for d in docs}


async def test_a_read_of_changes_returns_what_the_process_has_not_seen(
    store: DispatchStore,
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
    store: DispatchStore,
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
    await store.groups.update_one({"_id": group}, {"$pull": {"open": open_entry(str(done), 0)}})
    await store.tasks.update_one({"_id": done}, {"$set": {"pending_since": utcnow()}})
    changed = await store.load_changed(since, seen.saw)
    assert [(t["_id"], t["next_slot"]) for t in changed] == [(freed, 1)]
    # Read from the database, not the caller's copy: the heavy parts are left out.
    assert "pre_annotation" not in changed[0]


async def test_a_takeover_cut_short_by_the_adopters_death_is_won_again_later(
    store: DispatchStore,
) -> None:
    await store.beat("silent", 1, ["ann-1"], [0], 1)
    long_ago = utcnow() - timedelta(minutes=5)
    await store.replicas.update_one({"_id": "silent"}, {"$set": {"seen_at": long_ago}})
    assert await store.adopt("silent", "a", silent_s=10, adoption_s=30)
    assert not await store.adopt("silent", "b", silent_s=10, adoption_s=30)  # a is on it
    # a died before it finished: after `adoption_s` the takeover is up for grabs.
    await store.replicas.update_one({"_id": "silent"}, {"$set": {"adopted_at": long_ago}})
    assert await store.adopt("silent", "b", silent_s=10, adoption_s=30)
    # b failed and gave up: anyone may try again at once, but not on b's behalf twice.
    await store.give_up_adoption("silent", "a")
    assert not await store.adopt("silent", "c", silent_s=10, adoption_s=30)
    await store.give_up_adoption("silent", "b")
    assert await store.adopt("silent", "c", silent_s=10, adoption_s=30)


async def test_a_process_that_speaks_again_is_not_taken_over(store: DispatchStore) -> None:
    await store.beat("slow", 0, [], [], 0)
    assert not await store.adopt("slow", "a", silent_s=10, adoption_s=30)


async def test_tasks_are_counted_by_state_without_reading_them(store: DispatchStore) -> None:
    assert await store.count_by_state(pending=100) == {
        "pending": 100,
        "leased": 0,
        "flagged": 0,
        "submitted": TASKS - 100,
    }
    # A deployment whose tasks predate the counts gets them once, at start.
    await store.counts.delete_many({})
    await store.count_existing_tasks()
    await store.count_existing_tasks()
    assert (await store.count_by_state(pending=TASKS))["submitted"] == 0
    assert sum([d["n"] async for d in store.counts.find({})]) == TASKS
