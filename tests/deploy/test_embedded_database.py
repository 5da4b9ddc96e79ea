"""The launcher of the embedded database (scripts/embedded_mongo.py) mends three per-command
costs of SecantusDB (one a cache of its catalog) and turns its oplog off; what it changes must
still behave as the server did."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import secantus.server
from secantus.server import SecantusDBServer
from secantus.storage import Storage
from secantus.transactions import TransactionRegistry, TxnState

from shared.settings import Settings
from shared.store.mongo import (
    AsyncClientSession,
    AsyncMongoClient,
    Doc,
    DuplicateKeyError,
    ServiceDatabase,
    connect_mongo,
)
from tests.deploy.test_scripts import ROOT, script
from tests.support import SetClock

CATALOG_WRITERS = script("embedded_catalog.py").CATALOG_WRITERS


PATCHED = (
    (Storage, "get_profile"),
    (Storage, "set_profile"),
    (TransactionRegistry, "_prune_locked"),
    (Storage, "_coll_options"),
    (Storage, "_iter_indexes"),
    (Storage, "_ensure_collection"),
    (Storage, "_maybe_mark_multikey"),
    (Storage, "_close_user_txn_session"),
    (secantus.server, "dispatch"),
    *((Storage, name) for name in CATALOG_WRITERS),
)


@pytest.fixture
def launcher(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The launcher with its fixes applied, and SecantusDB's own methods back afterwards."""
    for owner, name in PATCHED:
        monkeypatch.setattr(owner, name, getattr(owner, name))
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))  # the launcher imports its siblings
    module = script("embedded_mongo.py")
    assert module.fix_command_costs()
    yield module


@asynccontextmanager
async def embedded_server(
    tmp_path: Path,
    settings: Settings,
    before_start: Callable[[SecantusDBServer], None] | None = None,
) -> AsyncIterator[AsyncMongoClient[Doc]]:
    """A SecantusDB server in this process (as the launcher makes it), and a client of it."""
    server = SecantusDBServer(port=0, storage_path=str(tmp_path), enable_test_commands=False)
    if before_start is not None:
        before_start(server)
    server.start()
    url = f"mongodb://127.0.0.1:{server.address[1]}/?directConnection=true"
    client = connect_mongo(settings.model_copy(update={"mongo_url": url}))
    try:
        yield client
    finally:
        await client.close()
        server.stop()


def session(n: int) -> bytes:
    return n.to_bytes(16, "big")


def test_finished_transactions_are_forgotten_and_idle_ones_still_aborted(
    launcher: ModuleType,
) -> None:
    clock = SetClock(1_000.0)
    registry = TransactionRegistry(lifetime_seconds=10, time_func=clock)
    for n in range(100):
        txn, error = registry.for_statement(session(n), None, 1, start=True)
        assert txn is not None and error is None
        assert registry.commit(session(n), 1) is None
    idle, _ = registry.for_statement(b"i" * 16, None, 1, start=True)
    assert idle is not None and len(registry._txns) == 101

    clock.now += 11  # past its lifetime: the next statement's walk aborts it
    registry.for_statement(b"b" * 16, None, 1, start=True)
    assert idle.state is TxnState.ABORTED and len(registry._txns) == 102
    clock.now += launcher.FINISHED_KEPT_S + 1  # finished a minute ago: forgotten
    live, _ = registry.for_statement(b"c" * 16, None, 1, start=True)
    assert live is not None and set(registry._txns) == {b"c" * 16}
    # A session whose transaction was forgotten starts its next one as before, and one that
    # reuses a number is still refused.
    txn, error = registry.for_statement(session(7), None, 2, start=True)
    assert txn is not None and error is None
    assert registry.for_statement(session(8), None, 1, start=True)[1] is not None


def test_the_walk_for_idle_transactions_runs_at_most_every_half_second(
    launcher: ModuleType,
) -> None:
    clock = SetClock(1_000.0)
    registry = TransactionRegistry(lifetime_seconds=0.2, time_func=clock)
    stale, _ = registry.for_statement(b"s" * 16, None, 1, start=True)  # a walk ran just now
    assert stale is not None
    clock.now += 0.3  # idle past its lifetime, but the next walk is not due
    registry.for_statement(b"o" * 16, None, 1, start=True)
    assert stale.state is TxnState.IN_PROGRESS
    clock.now += launcher.PRUNE_EVERY_S
    registry.for_statement(b"p" * 16, None, 1, start=True)
    assert stale.state is TxnState.ABORTED


async def test_profiling_still_follows_the_profile_command(
    launcher: ModuleType, tmp_path: Path, settings: Settings
) -> None:
    async with embedded_server(tmp_path, settings) as client:
        db = client["profiled"]
        await db["things"].insert_one({"_id": 1})
        await db["things"].find_one({"_id": 1})  # level 0 (read, then kept): not profiled
        await db.command("profile", 2, slowms=0)
        await db["things"].find_one({"_id": 1, "seen": None})
        await db.command("profile", 0)
        await db["things"].find_one({"_id": 1, "after": None})
        profiled = [d.get("command", {}).get("filter") async for d in db["system.profile"].find()]
        assert {"_id": 1, "seen": None} in profiled
        assert {"_id": 1, "after": None} not in profiled
        assert {"_id": 1} not in profiled
        assert (await db.command("profile", -1))["was"] == 0


async def test_without_an_oplog_transactions_commit_and_nothing_is_copied(
    launcher: ModuleType, tmp_path: Path, settings: Settings
) -> None:
    async with embedded_server(tmp_path, settings, launcher.without_oplog) as client:
        database = ServiceDatabase(client, "kept")

        async def both(session: AsyncClientSession) -> None:
            await database["a"].insert_one({"_id": 1}, session=session)
            await database["b"].update_one(
                {"_id": 1}, {"$inc": {"n": 1}}, upsert=True, session=session
            )

        await database.transaction(both)

        async def failing(session: AsyncClientSession) -> None:
            await database["a"].insert_one({"_id": 2}, session=session)
            raise RuntimeError("before the commit")

        with pytest.raises(RuntimeError):
            await database.transaction(failing)
        assert [d["_id"] async for d in database["a"].find()] == [1]
        assert (await database["b"].find_one({"_id": 1}) or {}).get("n") == 1
        assert await client["local"]["oplog.rs"].count_documents({}) == 0
        assert (await client.admin.command("hello"))["setName"]  # still a replica set


@asynccontextmanager
async def with_catalog(
    launcher: ModuleType, tmp_path: Path, settings: Settings
) -> AsyncIterator[tuple[AsyncMongoClient[Doc], Any]]:
    """A server in this process, a client of it, and the server's catalog cache."""
    servers: list[SecantusDBServer] = []
    async with embedded_server(tmp_path, settings, servers.append) as client:
        yield client, launcher.embedded_catalog.CatalogCache.of(servers[0].storage)


async def test_the_catalog_cache_follows_indexes_made_and_dropped(
    launcher: ModuleType, tmp_path: Path, settings: Settings
) -> None:
    async with with_catalog(launcher, tmp_path, settings) as (client, cache):
        things = client["catalog"]["things"]
        await things.insert_one({"_id": 1, "k": "a"})  # made: the cache starts again empty
        await things.insert_one({"_id": 2, "k": "b"})
        assert ("catalog", "things") in cache.indexes  # kept: the next write reads no table
        assert cache.collections[("catalog", "things")] is not None
        await things.create_index("k", unique=True)
        assert cache.open_changes == 0 and ("catalog", "things") not in cache.indexes
        with pytest.raises(DuplicateKeyError):  # the new index is seen by the next write
            await things.insert_one({"_id": 3, "k": "a"})
        await things.insert_one({"_id": 4, "k": "c"})
        found = [d["_id"] async for d in things.find({"k": {"$in": ["b", "c"]}}).hint("k_1")]
        assert sorted(found) == [2, 4]  # entries written for the old and the new documents
        await things.drop_index("k_1")
        await things.insert_one({"_id": 5, "k": "a"})  # no unique index any more
        await things.drop()
        await things.insert_one({"_id": 1})
        assert await things.count_documents({}) == 1
        assert [i["name"] async for i in await things.list_indexes()] == ["_id_"]
        assert cache.open_changes == 0


async def test_a_collection_made_in_a_transaction_exists_once_it_commits_not_before(
    launcher: ModuleType, tmp_path: Path, settings: Settings
) -> None:
    async with with_catalog(launcher, tmp_path, settings) as (client, cache):
        database = ServiceDatabase(client, "made")
        await database["other"].insert_one({"_id": 1})
        open_during: list[int] = []

        async def make(session: AsyncClientSession, fail: bool) -> None:
            await database["fresh"].insert_one({"_id": 1}, session=session)
            open_during.append(cache.open_changes)  # its change stays open until the end
            assert await database["other"].find_one({"_id": 1}) is not None
            if fail:
                raise RuntimeError("before the commit")

        with pytest.raises(RuntimeError):
            await database.transaction(lambda session: make(session, fail=True))
        assert "fresh" not in await client["made"].list_collection_names()
        assert cache.open_changes == 0
        await database.transaction(lambda session: make(session, fail=False))
        assert open_during == [1, 1] and cache.open_changes == 0
        assert await database["fresh"].count_documents({}) == 1
        await database["fresh"].insert_one({"_id": 2})
        assert cache.collections[("made", "fresh")] is not None


async def test_an_array_in_an_indexed_field_is_still_found_by_its_elements(
    launcher: ModuleType, tmp_path: Path, settings: Settings
) -> None:
    async with embedded_server(tmp_path, settings) as client:
        tagged = client["multikey"]["tagged"]
        await tagged.create_index("tags")
        await tagged.insert_one({"_id": 1, "tags": "x"})  # the index list is kept here
        await tagged.insert_one({"_id": 2, "tags": ["x", "y"]})  # the index turns multikey
        assert [d["_id"] async for d in tagged.find({"tags": "y"})] == [2]
        assert sorted([d["_id"] async for d in tagged.find({"tags": "x"})]) == [1, 2]
        plan = (await tagged.find({"tags": "y"}).explain())["queryPlanner"]["winningPlan"]
        assert plan["inputStage"]["isMultiKey"] is True  # the flag written, not the kept list
