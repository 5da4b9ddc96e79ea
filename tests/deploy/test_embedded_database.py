"""The launcher of the embedded database (scripts/embedded_mongo.py) mends two per-command
costs of SecantusDB and turns its oplog off; what it changes must still behave as the server
did."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType

import pytest
from secantus.server import SecantusDBServer
from secantus.storage import Storage
from secantus.transactions import TransactionRegistry, TxnState

from shared.settings import Settings
from shared.store.mongo import (
    AsyncClientSession,
    AsyncMongoClient,
    Doc,
    ServiceDatabase,
    connect_mongo,
)
from tests.deploy.test_scripts import script


@pytest.fixture
def launcher(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The launcher with its fixes applied, and SecantusDB's own methods back afterwards."""
    for cls, name in (
        (Storage, "get_profile"),
        (Storage, "set_profile"),
        (TransactionRegistry, "_prune_locked"),
    ):
        monkeypatch.setattr(cls, name, getattr(cls, name))
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


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_finished_transactions_are_forgotten_and_idle_ones_still_aborted(
    launcher: ModuleType,
) -> None:
    clock = Clock()
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
    clock = Clock()
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
