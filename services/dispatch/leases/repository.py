"""Slots in the database: collection `claims` (leases and the records that end them),
`item_marks` (who has had a copy of an item), and the task changes each transition needs.

Leases and item marks are inserted without a transaction: an insert of a new key needs none,
and duplicates come back one by one (`ordered=False`), so one lost race does not spoil the
group. Submits, releases, skips, heartbeats and frees run in transactions, so the record,
the task's new state and the outbox event commit together.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from pymongo import InsertOne, UpdateOne
from pymongo.errors import (
    BulkWriteError,
    ClientBulkWriteException,
    DuplicateKeyError,
    PyMongoError,
)

from services.dispatch.leases.open_lists import OpenLists
from services.dispatch.leases.slots import Lease, LeaseEnd, slot_key
from shared.errors import Conflict
from shared.events import Envelope
from shared.messaging.outbox import Outbox
from shared.observability import TRANSACTION_RETRIES
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, modify_by_id, utcnow

DUPLICATE_KEY = 11000
TRANSIENT = "TransientTransactionError"
# Ids per `$in` read: the embedded database matches each document against the whole list,
# so long lists cost more per id (about 0.3 ms an id at 50, 1 ms at 500).
READ_CHUNK = 50
# An item mark whose lease never got written (its process died in between) stops blocking
# the annotator after this long.
ORPHAN_MARK_S = 30.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SWEEP_FIELDS = {"task_id": 1, "round": 1, "slot": 1, "kind": 1, "expires_at": 1}


class LeaseLost(Conflict):
    def __init__(self) -> None:
        super().__init__("lease_lost", "the lease has expired and the task went to someone else")


class _Taken(Exception):
    """An ending record met a taken slot: the transaction is aborted."""


@dataclass(frozen=True)
class Submission:
    """A submit on its way in: the record that ends the lease, the task's group, its event."""

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


class SlotRepository:
    def __init__(self, db: ServiceDatabase, outbox: Outbox, open_lists: OpenLists) -> None:
        self.db = db
        self.outbox = outbox
        self.open_lists = open_lists
        self.claims = db["claims"]
        self.marks = db["item_marks"]
        self.tasks = db["tasks"]
        self.sweeps = db["sweeps"]

    # ----- leases --------------------------------------------------------------------------

    async def insert_leases(self, leases: Sequence[Lease]) -> list[bool]:
        """Take each lease's slot; True where this insert won it."""
        try:
            await self.claims.insert_many([le.to_doc() for le in leases], ordered=False)
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
            {
                "_id": f"{item}/{le.annotator_id}",
                "task_id": le.task_id,
                "project_id": le.project_id,
                "batch_id": le.batch_id,
                "lease": le.key,
                "at": now,
            }
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
        found = await self.read_map([m["lease"] for m in old])
        return {m["_id"] for m in old if m["lease"] not in found}

    async def unmark(self, marks: Sequence[tuple[Lease, str]]) -> None:
        """Take back marks written for leases that were then lost."""
        for lease, item in marks:
            await self.marks.delete_one({"_id": f"{item}/{lease.annotator_id}", "lease": lease.key})

    async def reassign(self, leases: Sequence[Lease]) -> None:
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

    async def read_map(self, keys: Sequence[str]) -> dict[str, Doc]:
        found: dict[str, Doc] = {}
        for start in range(0, len(keys), READ_CHUNK):
            chunk = list(keys[start : start + READ_CHUNK])
            found.update({d["_id"]: d async for d in self.claims.find({"_id": {"$in": chunk}})})
        return found

    async def submission(
        self,
        session: AsyncClientSession,
        task_id: str,
        round_: int,
        next_slot: int,
        submission_id: str,
    ) -> Doc | None:
        """The record of a round's submission, if it is that round's (a rejection may name an
        older one)."""
        keys = [slot_key(task_id, round_, s) for s in range(next_slot + 2)]
        records = await self.claims.find({"_id": {"$in": keys}}, session=session).to_list(None)
        return next((r for r in records if r.get("submission_id") == submission_id), None)

    async def records_of(self, vendor_id: str, annotator_id: str) -> list[Doc]:
        """Every lease one person held and the records that ended them (their own export:
        a scan, which only such an export pays)."""
        query = {"annotator_id": annotator_id, "vendor_id": vendor_id}
        return await self.claims.find(query).sort("expires_at", 1).to_list(None)

    async def marks_of(self, annotator_id: str) -> list[Doc]:
        """The items one person had a copy of (`<item>/<annotator>`)."""
        query = {"_id": {"$regex": f"/{re.escape(annotator_id)}$"}}
        return await self.marks.find(query).to_list(None)

    # ----- ending a lease ------------------------------------------------------------------

    async def submit_many(self, submissions: Sequence[Submission]) -> list[str | BaseException]:
        """Commit many submissions in one transaction: their records, one `done` record and
        their `task.submitted` events. When a slot was taken meanwhile (the lease was lost),
        fall back to one at a time so only that request sees the 409."""
        try:
            await self.db.transaction(partial(self._submit, submissions), reads=False)
        except _Taken:
            outcomes: list[str | BaseException] = []
            for one in submissions:
                try:
                    await self.db.transaction(partial(self._submit, [one]), reads=False)
                except _Taken:
                    outcomes.append(LeaseLost())
                else:
                    outcomes.append(one.record["submission_id"])
            self.outbox.notify()
            return outcomes
        self.outbox.notify()
        return [s.record["submission_id"] for s in submissions]

    async def _submit(self, submissions: Sequence[Submission], session: AsyncClientSession) -> None:
        """The records, the `done` record and the outbox document, in one command."""
        done = self.open_lists.done_record(
            (s.group, s.lease.task_id, s.lease.round) for s in submissions
        )
        events = self.outbox.document(*(s.event for s in submissions))
        writes = [
            *(InsertOne(s.record, namespace=self._ns("claims")) for s in submissions),
            InsertOne(done, namespace=self._ns("done")),
            InsertOne(events, namespace=self._ns("outbox")),
        ]
        try:
            await self.db.client.bulk_write(writes, session=session)
            self.outbox.saved(session, events)
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
        """Release or skip: the record and the task's return to the pool commit together; a
        task skipped `max_skips` times is flagged for an operator instead."""

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
            if record["kind"] == LeaseEnd.SKIPPED and len(task.get("skips", [])) >= max_skips:
                await self.tasks.update_one(
                    {"_id": lease.task_id}, {"$set": {"status": "flagged"}}, session=session
                )
                await self.open_lists.close(session, group, lease.task_id, lease.round)
                task["status"] = "flagged"
            return task

        return await self.db.transaction(work)

    async def heartbeat(self, lease: Lease, expires_at: datetime) -> Lease:
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
                        {**moved.to_doc(), "renews": lease.slot}, session=session
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

    # ----- the sweep -----------------------------------------------------------------------

    async def expiring(self, after: datetime, until: datetime, limit: int) -> list[Doc]:
        """Records whose lease expires in (after, until], oldest first, at most `limit` (0: all):
        a read of the date index, whatever the number of records kept."""
        query = {"expires_at": {"$gt": after, "$lte": until}}
        cursor = self.claims.find(query, SWEEP_FIELDS).sort("expires_at", 1).limit(limit)
        return await cursor.to_list(None)

    async def swept_until(self) -> datetime:
        """Where the last sweep of any process stopped (the start of time before the first)."""
        doc = await self.sweeps.find_one({"_id": "leases"})
        return doc["until"] if doc else EPOCH

    async def mark_swept(self, until: datetime) -> None:
        await self.sweeps.update_one({"_id": "leases"}, {"$max": {"until": until}}, upsert=True)

    async def free(self, expired: Sequence[Doc], now: datetime) -> list[Doc]:
        """Abandoned leases (their records): their tasks go back to the pool (the next slot
        opens), unless they moved on meanwhile. Returns the tasks this call freed."""

        async def work(session: AsyncClientSession) -> None:
            await self.tasks.bulk_write(
                [
                    UpdateOne(
                        {
                            "_id": r["task_id"],
                            "rework": r["round"],
                            "status": "pending",
                            "next_slot": {"$lte": r["slot"]},
                        },
                        {"$set": {"next_slot": r["slot"] + 1, "pending_since": now}},
                    )
                    for r in expired
                ],
                ordered=False,
                session=session,
            )

        if not expired:
            return []
        await self.db.transaction(work)
        ids = list({r["task_id"] for r in expired})
        # Those this call moved on carry its time (to the millisecond, as stored), not the
        # time of another sweep that freed them first.
        stamp = now.replace(microsecond=now.microsecond // 1000 * 1000)
        found = await self.tasks.find({"_id": {"$in": ids}, "status": "pending"}).to_list(None)
        return [t for t in found if t.get("pending_since") == stamp]


def giving_back(end: LeaseEnd, lease: Lease, now: datetime, skip: Doc | None) -> Doc:
    """The task's change when its holder gives it back: the slot after the record opens,
    and other processes' pool reads see it (`pending_since`)."""
    update: Doc = {
        "$max": {"next_slot": lease.slot + 2},
        "$set": {"pending_since": now},
    }
    if end is LeaseEnd.SKIPPED and skip is not None:
        update["$push"] = {"skips": {**skip, "annotator_id": lease.annotator_id, "at": now}}
        update["$addToSet"] = {"blocked_annotators": lease.annotator_id}
    return update
