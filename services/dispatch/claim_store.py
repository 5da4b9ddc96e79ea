"""The claim chain in the database: collection `claims` (leases, closing records, journals),
`item_marks` (who has had a copy of an item), `task_groups` and `done` (which tasks are still
open), and the task changes each transition needs.

Leases, journals and item marks are inserted without a transaction: an insert of a new key
needs none, and duplicates come back one by one (`ordered=False`), so one lost race does not
spoil the group. Submits, releases, skips, heartbeats and frees run in transactions, so the
closing record, the task's new state and the outbox event commit together.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from pymongo import InsertOne, UpdateOne
from pymongo.errors import (
    BulkWriteError,
    ClientBulkWriteException,
    DuplicateKeyError,
    PyMongoError,
)

from services.dispatch import claims as chain
from services.dispatch.claims import Closing, Lease, Tracked
from shared.errors import Conflict
from shared.events import Envelope
from shared.messaging.outbox import Outbox
from shared.observability import TRANSACTION_RETRIES
from shared.runtime import Runtime
from shared.store.mongo import AsyncClientSession, AsyncCollection, Doc, modify_by_id, utcnow

DUPLICATE_KEY = 11000
TRANSIENT = "TransientTransactionError"
JOURNAL_CHUNK = 50  # journal keys per read
# Documents per background delete: each delete statement holds up the database's other work
# (a claim waiting behind it) for about half a millisecond a document.
DELETE_CHUNK = 10
# An item mark whose lease never got written (its process died in between) stops blocking
# the annotator after this long.
ORPHAN_MARK_S = 30.0


class LeaseLost(Conflict):
    def __init__(self) -> None:
        super().__init__("lease_lost", "the lease has expired and the task went to someone else")


class _Taken(Exception):
    """A closing record met a taken slot: the transaction is aborted."""


@dataclass(frozen=True)
class Closed:
    """A submission on its way into the chain: its record, its task's group, its event."""

    lease: Lease
    record: Doc
    group: str
    event: Envelope


def _duplicates(error: BulkWriteError) -> set[int]:
    """Indexes of the documents refused as duplicates; any other refusal is re-raised."""
    errors = error.details.get("writeErrors", [])
    if any(e.get("code") != DUPLICATE_KEY for e in errors):
        raise error
    return {int(e["index"]) for e in errors}


def _is_duplicate(error: Exception) -> bool:
    if isinstance(error, DuplicateKeyError):
        return True
    if isinstance(error, BulkWriteError):
        return any(e.get("code") == DUPLICATE_KEY for e in error.details.get("writeErrors", []))
    return False


class ClaimChain:
    def __init__(self, runtime: Runtime) -> None:
        self.db = runtime.db
        self.outbox: Outbox = runtime.outbox
        self.claims = runtime.db["claims"]
        self.marks = runtime.db["item_marks"]
        self.tasks = runtime.db["tasks"]
        self.groups = runtime.db["task_groups"]
        self.done = runtime.db["done"]

    # ----- leases --------------------------------------------------------------------------

    async def insert_leases(
        self, leases: Sequence[Lease], replica_id: str, journal: Doc
    ) -> list[bool]:
        """Take each lease's slot; True where this insert won it. The journal document goes in
        the same write, so a process taking over after a crash finds every lease."""
        docs = [lease.to_doc(replica_id) for lease in leases]
        try:
            await self.claims.insert_many([*docs, journal], ordered=False)
        except BulkWriteError as error:
            lost = _duplicates(error)
            return [i not in lost for i in range(len(leases))]
        return [True] * len(leases)

    async def mark_items(self, marks: Sequence[tuple[Lease, str]]) -> tuple[list[bool], set[int]]:
        """Overlap: one annotator, one copy of an item. Marks `<item>/<annotator>`; each entry
        is allowed when its mark is new, or names this same task (rework, a second lease after
        a release). Also returns which marks this call wrote (to undo when the lease is lost)."""
        if not marks:
            return [], set()
        now = utcnow()
        docs = [
            {"_id": f"{item}/{le.annotator_id}", "task_id": le.task_id, "lease": le.key, "at": now}
            for le, item in marks
        ]
        clashes: set[int] = set()
        try:
            await self.marks.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            clashes = _duplicates(error)
        allowed = [i not in clashes for i in range(len(docs))]
        written = {i for i in range(len(docs)) if i not in clashes}
        if not clashes:
            return allowed, written
        ids = [docs[i]["_id"] for i in clashes]
        existing = {d["_id"]: d for d in await self.marks.find({"_id": {"$in": ids}}).to_list(None)}
        orphans = await self._orphans(list(existing.values()), now)
        for i in clashes:
            mark = existing.get(docs[i]["_id"])
            if mark is None or mark["task_id"] == docs[i]["task_id"]:
                allowed[i] = True
            elif mark["_id"] in orphans:
                replaced = await self.marks.replace_one(
                    {"_id": mark["_id"], "lease": mark["lease"]}, docs[i]
                )
                if replaced.modified_count:
                    allowed[i] = True
                    written.add(i)
        return allowed, written

    async def _orphans(self, marks: list[Doc], now: datetime) -> set[str]:
        """Marks older than `ORPHAN_MARK_S` whose lease was never written."""
        old = [m for m in marks if m["at"] < now - timedelta(seconds=ORPHAN_MARK_S)]
        if not old:
            return set()
        found = {d["_id"] for d in await self.read([m["lease"] for m in old])}
        return {m["_id"] for m in old if m["lease"] not in found}

    async def unmark(self, marks: Sequence[tuple[Lease, str]]) -> None:
        """Take back marks written for leases that were then lost."""
        for lease, item in marks:
            await self.marks.delete_one({"_id": f"{item}/{lease.annotator_id}", "lease": lease.key})

    async def take_over(self, leases: Sequence[Lease]) -> None:
        """Backlog taken over by another vendor: the task now belongs to the vendor doing it."""

        async def work(session: AsyncClientSession) -> None:
            await self.tasks.bulk_write(
                [
                    UpdateOne({"_id": le.task_id}, {"$set": {"vendor_id": le.vendor_id}})
                    for le in leases
                ],
                session=session,
            )

        if leases:
            await self.db.transaction(work)

    async def read(self, keys: Sequence[str]) -> list[Doc]:
        if not keys:
            return []
        return await self.claims.find({"_id": {"$in": list(keys)}}).to_list(None)

    async def read_map(self, keys: Sequence[str]) -> dict[str, Doc]:
        return {d["_id"]: d for d in await self.read(keys)}

    # ----- closing a lease -----------------------------------------------------------------

    async def submit_many(self, closed: Sequence[Closed]) -> list[str | BaseException]:
        """Commit many submissions in one transaction: their closing records, the tasks'
        status and their `task.submitted` events. When a slot was taken meanwhile (the lease
        was lost), fall back to one at a time so only that request sees the 409."""
        try:
            await self.db.transaction(partial(self._submit, closed), reads=False)
        except _Taken:
            outcomes: list[str | BaseException] = []
            for one in closed:
                try:
                    await self.db.transaction(partial(self._submit, [one]), reads=False)
                except _Taken:
                    outcomes.append(LeaseLost())
                else:
                    outcomes.append(one.record["submission_id"])
            self.outbox.notify()
            return outcomes
        self.outbox.notify()
        return [c.record["submission_id"] for c in closed]

    async def _submit(self, closed: Sequence[Closed], session: AsyncClientSession) -> None:
        """The closing records, the group's `done` record (which open-list entries to take
        off, see compact()) and the outbox document, in one command."""
        done = {
            "_id": secrets.token_hex(12),
            "entries": [
                [c.group, chain.open_entry(c.lease.task_id, c.lease.round)] for c in closed
            ],
            "at": utcnow(),
        }
        writes = [
            *(InsertOne(c.record, namespace=self._ns("claims")) for c in closed),
            InsertOne(done, namespace=self._ns("done")),
            InsertOne(
                self.outbox.document(*(c.event for c in closed)), namespace=self._ns("outbox")
            ),
        ]
        try:
            await self.db.client.bulk_write(writes, session=session)
        except ClientBulkWriteException as error:
            if any(e.get("code") == DUPLICATE_KEY for e in error.details.get("writeErrors", [])):
                raise _Taken() from error
            cause = error.error
            if isinstance(cause, PyMongoError) and cause.has_error_label(TRANSIENT):
                TRANSACTION_RETRIES.labels("dispatch_submit").inc()
                raise cause from error  # the transaction is retried (write conflict)
            raise

    def _ns(self, collection: str) -> str:
        return f"{self.db.db.name}.{collection}"

    async def give_back(
        self, lease: Lease, record: Doc, update: Doc, max_skips: int, group: str
    ) -> Doc:
        """Release or skip: the closing record and the task's return to the pool commit
        together; a task skipped `max_skips` times is flagged for an operator instead."""

        async def work(session: AsyncClientSession) -> Doc:
            try:
                await self.claims.insert_one(record, session=session)
            except DuplicateKeyError as error:
                raise LeaseLost() from error
            task = await modify_by_id(
                self.tasks,
                lease.task_id,
                update,
                session=session,
                when=lambda doc: doc.get("rework") == lease.round,
            )
            if task is None:
                raise LeaseLost()
            if record["kind"] == Closing.SKIPPED and len(task.get("skips", [])) >= max_skips:
                await self.tasks.update_one(
                    {"_id": lease.task_id}, {"$set": {"status": "flagged"}}, session=session
                )
                await self.groups.update_one(
                    {"_id": group},
                    {"$pull": {"open": chain.open_entry(lease.task_id, lease.round)}},
                    session=session,
                )
                task["status"] = "flagged"
            return task

        return await self.db.transaction(work)

    async def heartbeat(self, lease: Lease, expires_at: datetime, replica_id: str) -> Lease:
        """Extend a lease. If it expired and went back to the pool but nobody took it, the
        holder takes it again in the next slot (same nonce, so the old lease id still works)."""

        async def work(session: AsyncClientSession) -> Lease:
            after = await self.claims.find_one({"_id": lease.next_key}, session=session)
            if after is not None:
                raise LeaseLost()
            task = await self.tasks.find_one(
                {"_id": lease.task_id}, {"next_slot": 1, "status": 1, "rework": 1}, session=session
            )
            if task is None or task.get("rework", 0) != lease.round or task["status"] != "pending":
                raise LeaseLost()
            if int(task.get("next_slot", 0)) > lease.slot:  # freed: take the next slot
                moved = lease.moved_to(lease.slot + 1, expires_at)
                try:
                    await self.claims.insert_one(
                        {**moved.to_doc(replica_id), "renews": lease.slot}, session=session
                    )
                except DuplicateKeyError as error:
                    raise LeaseLost() from error
                return moved
            await self.claims.update_one(
                {"_id": lease.key, "nonce": lease.nonce},
                {"$set": {"expires_at": expires_at}},
                session=session,
            )
            return lease.moved_to(lease.slot, expires_at)

        return await self.db.transaction(work)

    async def free(self, expired: Sequence[Tracked], now: datetime) -> list[Doc]:
        """Abandoned leases: their tasks go back to the pool (the next slot opens). Returns
        the tasks now pending again."""

        async def work(session: AsyncClientSession) -> None:
            await self.tasks.bulk_write(
                [
                    UpdateOne(
                        {
                            "_id": t.task_id,
                            "rework": t.round,
                            "status": "pending",
                            "next_slot": {"$lte": t.slot},
                        },
                        {"$set": {"next_slot": t.slot + 1, "pending_since": now}},
                    )
                    for t in expired
                ],
                ordered=False,
                session=session,
            )

        if not expired:
            return []
        await self.db.transaction(work)
        ids = [t.task_id for t in expired]
        return await self.tasks.find({"_id": {"$in": ids}, "status": "pending"}).to_list(None)

    # ----- which tasks are open ------------------------------------------------------------

    async def compact(self) -> int:
        """Take the tasks of `done` records off their groups' open lists (a group left with
        none is deleted), then the records. Idempotent: a crash halfway is redone."""
        records = await self.done.find({}).limit(500).to_list(None)
        if not records:
            return 0
        by_group: dict[str, list[str]] = defaultdict(list)
        for record in records:
            for group, entry in record["entries"]:
                by_group[group].append(entry)
        for group, entries in by_group.items():
            await self.db.transaction(partial(self._close_entries, group, entries))
        await self._delete_in_chunks(self.done, [r["_id"] for r in records])
        return sum(len(e) for e in by_group.values())

    async def _close_entries(
        self, group: str, entries: list[str], session: AsyncClientSession
    ) -> None:
        """The group's list without `entries`: written whole (cheaper than a `$pull`, which
        the embedded database matches entry by entry), or the group deleted when none is left.
        A concurrent change of the same group (a rework) conflicts, and the transaction is
        retried."""
        doc = await self.groups.find_one({"_id": group}, session=session)
        if doc is None:
            return
        closing = set(entries)
        left = [e for e in doc.get("open", []) if e not in closing]
        if not left:
            await self.groups.delete_one({"_id": group}, session=session)
        elif len(left) < len(doc.get("open", [])):
            await self.groups.update_one({"_id": group}, {"$set": {"open": left}}, session=session)

    # ----- journals ------------------------------------------------------------------------

    async def write_journal(self, doc: Doc) -> None:
        await self.claims.insert_one(doc)

    async def read_journal(self, replica_id: str, known: Sequence[int], after: int) -> list[Doc]:
        """A process's journal documents: the numbers it last said it still needed, and the
        ones it wrote since (consecutive from `after`, read a chunk at a time)."""
        docs = await self._journal_docs(chain.journal_keys(replica_id, known))
        start = after
        while chunk := await self._journal_docs(
            chain.journal_keys(replica_id, range(start, start + JOURNAL_CHUNK))
        ):
            docs.extend(chunk)
            start += JOURNAL_CHUNK
        return docs

    async def _journal_docs(self, keys: list[str]) -> list[Doc]:
        return await self.claims.find({"_id": {"$in": keys}}).to_list(None) if keys else []

    async def drop_journal(self, keys: Sequence[str]) -> None:
        await self._delete_in_chunks(self.claims, keys)

    @staticmethod
    async def _delete_in_chunks(collection: AsyncCollection[Doc], ids: Sequence[str]) -> None:
        for start in range(0, len(ids), DELETE_CHUNK):
            await collection.delete_many({"_id": {"$in": list(ids[start : start + DELETE_CHUNK])}})


def closing_update(kind: Closing, lease: Lease, now: datetime, skip: Doc | None) -> Doc:
    """The task's change when its holder gives it back: the slot after the closing record
    opens, and other processes' pool reads see it (`pending_since`)."""
    update: Doc = {
        "$max": {"next_slot": lease.slot + 2},
        "$set": {"pending_since": now},
    }
    if kind is Closing.SKIPPED and skip is not None:
        update["$push"] = {"skips": {**skip, "annotator_id": lease.annotator_id, "at": now}}
        update["$addToSet"] = {"blocked_annotators": lease.annotator_id}
    return update
