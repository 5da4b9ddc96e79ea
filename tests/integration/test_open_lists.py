"""Dispatch's open lists on real SecantusDB: the compaction takes done tasks off their groups'
lists, several small groups to a transaction, deleting the groups left empty and keeping
what is still open (a rework's new round among it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.dispatch.leases import open_lists as open_lists_module
from services.dispatch.leases.open_lists import OpenLists
from services.dispatch.leases.slots import open_entry
from shared.runtime import Runtime
from shared.settings import Settings
from shared.store.mongo import AsyncClientSession, Doc
from tests.support import service_runtime


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    async with service_runtime("dispatch", settings) as runtime:
        yield runtime


def tasks(prefix: str, n: int) -> list[Doc]:
    return [{"_id": f"{prefix}{i}", "rework": 0} for i in range(n)]


async def test_compaction_closes_done_tasks_across_groups(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(open_lists_module, "COMPACT_ENTRIES", 4)  # several transactions
    lists = OpenLists(runtime.db)
    small = [tasks(f"s{g}_", 2) for g in range(6)]  # made a couple at a time
    big = tasks("b_", 5)

    async def add(session: AsyncClientSession) -> None:
        for made in [*small, big]:
            await lists.add_new(session, made)

    await runtime.db.transaction(add)
    group_of = {t["_id"]: t["group"] for made in [*small, big] for t in made}
    assert len(set(group_of.values())) == 7
    done = [t["_id"] for made in small[:5] for t in made] + ["s5_0", "b_0", "b_1"]
    rework = small[4][1]  # submitted, then sent back: its next round is open again

    async def submit_then_rework(session: AsyncClientSession) -> None:
        record = lists.done_record((group_of[t], t, 0) for t in done)
        await lists.done.insert_one(record, session=session)
        await lists.reopen(session, rework["group"], rework["_id"], 1)

    await runtime.db.transaction(submit_then_rework)
    assert open_entry("b_0", 0) not in await lists.open_entries()  # done, still listed

    assert await lists.compact() == len(done)
    by_group = await lists.open_by_group()
    assert by_group == {
        rework["group"]: {open_entry(rework["_id"], 1)},
        small[5][0]["group"]: {open_entry("s5_1", 0)},
        big[0]["group"]: {open_entry(f"b_{i}", 0) for i in (2, 3, 4)},
    }
    stored = {d["_id"]: set(d["open"]) async for d in lists.groups.find({})}
    assert stored == by_group  # the emptied groups are gone
    assert await lists.done.count_documents({}) == 0
    assert await lists.compact() == 0  # nothing left to do
