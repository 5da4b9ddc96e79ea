"""Mongo access through PyMongo's async client: one database per service, transactions, dedup."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import bson
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from shared.settings import Settings

__all__ = [
    "DATABASE_DOWN",
    "AsyncClientSession",
    "AsyncCollection",
    "AsyncMongoClient",
    "Doc",
    "DuplicateKeyError",
    "ServiceDatabase",
    "after_commit",
    "as_stored",
    "connect_mongo",
    "delete_older",
    "drop_index_if_present",
    "modify_by_id",
    "utcnow",
]

T = TypeVar("T")

INDEX_NOT_FOUND = 27  # the server's code for dropping an index that is not there
# Errors meaning "the database cannot be reached right now" (as opposed to a bad request).
DATABASE_DOWN: tuple[type[Exception], ...] = (ConnectionFailure,)
Doc = dict[str, Any]
# What runs once a session's transaction commits, per session, filled by `after_commit` while
# `ServiceDatabase.transaction` runs it (emptied at each attempt: a retried attempt redoes it).
_AFTER_COMMIT: dict[AsyncClientSession, list[Callable[[], None]]] = {}


def utcnow() -> datetime:
    return datetime.now(UTC)


def naive(moment: datetime | str) -> datetime:
    """A UTC time without its zone, as the database gives times back, so times from events
    (aware, or ISO text) and from documents (naive) compare."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=None)


def connect_mongo(settings: Settings) -> AsyncMongoClient[Doc]:
    """A client with majority writes, so an acknowledged write survives a primary failover."""
    return AsyncMongoClient(
        settings.mongo_url,
        tz_aware=True,
        w="majority",
        serverSelectionTimeoutMS=5_000,
        uuidRepresentation="standard",
    )


class ServiceDatabase:
    """The one database a service owns, with the transaction helpers its store uses."""

    def __init__(self, client: AsyncMongoClient[Doc], name: str) -> None:
        self.client = client
        self.db: AsyncDatabase[Doc] = client[name]
        self.processed = self.db["processed_events"]

    def __getitem__(self, collection: str) -> AsyncCollection[Doc]:
        return self.db[collection]

    async def ping(self) -> None:
        await self.db.command("ping")

    async def nudge_transactions(self) -> None:
        """One trivial transaction. The embedded database aborts a transaction left open by a
        killed process (after 60 s idle, as MongoDB does) only when some transaction statement
        runs; until then plain writes to the documents it holds retry inside the server.
        Services run this every few seconds so a crash never stalls them for longer."""
        async with (
            self.client.start_session() as session,
            await session.start_transaction(),
        ):
            await self.processed.find_one({"_id": "-"}, {"_id": 1}, session=session)

    async def transaction(
        self, fn: Callable[[AsyncClientSession], Awaitable[T]], *, reads: bool = True
    ) -> T:
        """Run `fn` in one transaction, retried on transient errors (write conflicts).

        `reads=False` for a transaction that only writes: it then sends no read concern (not
        even a causal one on a retry), which the cross-collection `bulkWrite` command needs
        on the embedded database."""

        async def attempt(session: AsyncClientSession) -> T:
            _AFTER_COMMIT[session] = []
            return await fn(session)

        async with self.client.start_session(causal_consistency=reads) as session:
            try:
                result = await session.with_transaction(
                    attempt,
                    read_concern=ReadConcern("snapshot") if reads else None,
                    write_concern=WriteConcern("majority"),
                )
                committed = _AFTER_COMMIT.get(session, [])
            finally:
                _AFTER_COMMIT.pop(session, None)
        for callback in committed:
            callback()
        return result

    async def modify(
        self,
        collection: AsyncCollection[Doc],
        doc_id: Any,
        update: Mapping[str, Any],
        when: Callable[[Doc], bool],
    ) -> Doc | None:
        """`modify_by_id` in a transaction of its own: of two processes racing for one
        document (a claim), one wins. On the embedded database a plain conditional write
        meeting a transaction left open by a killed process retries inside the server; in a
        transaction it fails fast and the driver retries."""

        async def work(session: AsyncClientSession) -> Doc | None:
            return await modify_by_id(collection, doc_id, update, session=session, when=when)

        return await self.transaction(work)

    async def apply_once(
        self, event_id: str, fn: Callable[[AsyncClientSession], Awaitable[None]]
    ) -> bool:
        """Apply an event's effects exactly once: `fn` and the processed-marker commit together.

        Returns False when the event was already applied (a redelivery), True otherwise:
        its marker's duplicate key fails the transaction before `fn` runs (nothing is read
        first; a redelivery is rare).
        """

        async def unit(session: AsyncClientSession) -> None:
            await self.processed.insert_one({"_id": event_id, "at": utcnow()}, session=session)
            await fn(session)

        try:
            await self.transaction(unit)
        except DuplicateKeyError:
            # Applied before, or by a concurrent replica whose transaction won.
            if await self.processed.find_one({"_id": event_id}, {"_id": 1}) is not None:
                return False
            raise
        return True


def after_commit(session: AsyncClientSession, callback: Callable[[], None]) -> None:
    """Call `callback` once the session's transaction has committed, if it is one that
    `ServiceDatabase.transaction` runs; never when it aborts or its outcome is unknown (a
    commit whose answer was lost), and not at all for other sessions: only for what is
    certainly committed, and only as a shortcut for something that works without it."""
    callbacks = _AFTER_COMMIT.get(session)
    if callbacks is not None:
        callbacks.append(callback)


async def modify_by_id(
    collection: AsyncCollection[Doc],
    doc_id: Any,
    update: Mapping[str, Any],
    *,
    session: AsyncClientSession,
    when: Callable[[Doc], bool] | None = None,
    upsert: bool = False,
    new: bool = True,
) -> Doc | None:
    """`find_one_and_update` of one document by `_id`, inside the caller's transaction.

    Returns the document after the update (`new`) or before it, or None when it is missing
    (and not upserted) or `when(document)` is false. Every step is a point lookup by `_id`.
    SecantusDB answers findAndModify, and any filter with a top-level `$and` or `$or`, by
    scanning the whole collection, so its cost grew with the data. In a transaction the read,
    the test and the write are as atomic as findAndModify: the snapshot hides later commits,
    and a concurrent writer of the same document conflicts, so one of the two retries.
    """
    if not session.in_transaction:
        raise RuntimeError("modify_by_id needs a transaction")
    if when is None and new:  # nothing to test first: write, then read what was written
        result = await collection.update_one(
            {"_id": doc_id}, update, upsert=upsert, session=session
        )
        if result.matched_count == 0 and result.upserted_id is None:
            return None
        return await collection.find_one({"_id": doc_id}, session=session)
    before = await collection.find_one({"_id": doc_id}, session=session)
    if before is None and not upsert:
        return None
    if before is not None and when is not None and not when(before):
        return None
    await collection.update_one({"_id": doc_id}, update, upsert=upsert, session=session)
    if not new:
        return before
    if before is not None and (after := _set_locally(collection, before, update)) is not None:
        return after
    return await collection.find_one({"_id": doc_id}, session=session)


def _set_locally(
    collection: AsyncCollection[Doc], before: Doc, update: Mapping[str, Any]
) -> Doc | None:
    """The document as `update` left it, without reading it again, where that is certain: an
    update made only of `$set` on top-level fields (a claim's), the values as the database
    gives them back (through BSON: milliseconds, tuples as lists); None for anything else."""
    fields = update.get("$set")
    if set(update) != {"$set"} or not isinstance(fields, Mapping):
        return None
    if any(name == "_id" or "." in name or name.startswith("$") for name in fields):
        return None
    return {**before, **as_stored(collection, fields)}


def as_stored(collection: AsyncCollection[Doc], doc: Mapping[str, Any]) -> Doc:
    """`doc` as a read of `collection` would give it back (through BSON: datetimes to the
    millisecond, tuples as lists): what was written, answered without reading it again."""
    options = collection.codec_options
    return bson.decode(bson.encode(doc, codec_options=options), options)


async def drop_index_if_present(collection: AsyncCollection[Doc], name: str) -> None:
    """Drop an index an earlier version made, if it is there (a start-up's migration)."""
    try:
        await collection.drop_index(name)
    except OperationFailure as exc:
        if exc.code != INDEX_NOT_FOUND:
            raise


async def delete_older(
    collection: AsyncCollection[Doc], field: str, cutoff: datetime, page: int = 1000
) -> int:
    """Delete the documents whose `field` is before `cutoff`, a page at a time, through an
    index on `field`; returns how many went."""
    deleted = 0
    while True:
        ids = [
            doc["_id"]
            for doc in await collection.find({field: {"$lt": cutoff}}, {"_id": 1})
            .limit(page)
            .to_list(page)
        ]
        if not ids:
            return deleted
        deleted += (await collection.delete_many({"_id": {"$in": ids}})).deleted_count
