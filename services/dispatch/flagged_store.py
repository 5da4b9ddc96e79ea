"""The flagged-task queue: a task skipped by `max_skips` people waits here for an operator (or
its client) to return it to the pool, send it to another of the project's vendors, or drop its
item from the batch.

Dropping ends every task of the item (overlap copies, a video's clips) in one transaction with
the `item.dropped` event: each task becomes `dropped`, and its round is closed by a `dropped`
record in the slots (leases/slots.py): in the slot after a live lease, so its holder's next
heartbeat or submit meets a taken slot (409 `lease_lost`), or in the free slot, so no lease
can take it. Review and export learn of the drop from the event; ingest counts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial

from pymongo.errors import BulkWriteError

from services.dispatch import domain
from services.dispatch.leases import SlotRepository
from services.dispatch.leases.slots import dropping, slot_key
from shared.domain.tracks import clip_unit
from shared.errors import AppError, Conflict, NotFound
from shared.events import Envelope, ItemDropped
from shared.observability import correlation_id
from shared.security.audit import AuditLog
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, utcnow

# Slots read past a task's `next_slot` (a lease, the record after it, a heartbeat's re-lease).
LOOKAHEAD = 3
# A drop that met a lease taken at the same moment tries again this many times.
DROP_ATTEMPTS = 3


class _Raced(Exception):
    """A lease took a free slot while the drop was reading: the transaction is aborted."""


class NotFlagged(Conflict):
    def __init__(self, status: str) -> None:
        super().__init__("not_flagged", f"the task is {status}, not flagged")


def item_task_ids(task: Doc) -> list[str]:
    """Every task the item of `task` can have: each copy (the project's overlap) of the item,
    or of each of its clips; the ids are deterministic (`domain.task_id`)."""
    clip = task.get("clip")
    units = (
        [clip_unit(task["item_id"], index) for index in range(int(clip["count"]))]
        if clip is not None
        else [task["item_id"]]
    )
    copies = range(int(task.get("overlap", 1)))
    return [domain.task_id(unit, slot) for unit in units for slot in copies]


class FlaggedTasks:
    """The queue's reads and its three actions; each action commits with its audit entry."""

    def __init__(self, db: ServiceDatabase, slots: SlotRepository, audit: AuditLog) -> None:
        self.db = db
        self.slots = slots
        self.open_lists = slots.open_lists
        self.outbox = slots.outbox
        self.audit = audit
        self.tasks = db["tasks"]

    async def page(self, org_id: str | None, project_id: str | None, limit: int) -> list[Doc]:
        """Flagged tasks, longest waiting first (the status index), of one client or all."""
        query: Doc = {"status": "flagged"}
        if org_id is not None:
            query["org_id"] = org_id
        if project_id is not None:
            query["project_id"] = project_id
        return await self.tasks.find(query).sort("pending_since", 1).limit(limit).to_list(None)

    async def get(self, org_id: str | None, task_id: str) -> Doc:
        """A flagged task its caller may act on (a client: its own); 404 for others, 409 when
        it is not flagged (any more)."""
        task = await self.tasks.find_one({"_id": task_id})
        if task is None or (org_id is not None and task["org_id"] != org_id):
            raise NotFound("task")
        if task["status"] != "flagged":
            raise NotFlagged(task["status"])
        return task

    async def skips_of(self, vendor_id: str, annotator_id: str) -> list[Doc]:
        """One person's skips, with the task each was of (their own export): of tasks their
        vendor could take (another vendor's person may have the same name)."""
        found: list[Doc] = []
        for field in ("skips", "skip_history"):
            query = {f"{field}.annotator_id": annotator_id, "allowed_vendors": vendor_id}
            async for task in self.tasks.find(query, {field: 1, "item_id": 1, "project_id": 1}):
                found.extend(
                    {"task_id": task["_id"], "item_id": task["item_id"], **skip}
                    for skip in task.get(field, [])
                    if skip.get("annotator_id") == annotator_id
                )
        return found

    async def return_to_pool(self, task: Doc, vendor_id: str | None) -> Doc:
        """Pending again, skips cleared (kept in `skip_history`), open on its group's list:
        the people who skipped it may take it too, since someone decided it can be done."""
        if vendor_id is not None and vendor_id not in task.get("allowed_vendors", []):
            raise AppError(
                "vendor_not_in_project",
                "the project does not list this vendor",
                status_code=422,
            )
        now = utcnow()
        changes: Doc = {
            "status": "pending",
            "pending_since": now,
            "skips": [],
            "blocked_annotators": [],
            "preferred_annotator": None,
            "preferred_until": None,
        }
        if vendor_id is not None:
            changes["vendor_id"] = vendor_id

        async def work(session: AsyncClientSession) -> None:
            done = await self.tasks.update_one(
                {"_id": task["_id"], "status": "flagged"},
                {"$set": changes, "$push": {"skip_history": {"$each": task.get("skips", [])}}},
                session=session,
            )
            if not done.modified_count:
                raise NotFlagged("no longer flagged")
            await self.open_lists.reopen(
                session, task.get("group", ""), task["_id"], int(task.get("rework", 0))
            )
            action = "task.sent_to_vendor" if vendor_id else "task.returned"
            await self.audit.record(
                session,
                action,
                task["_id"],
                orgs=[task["org_id"], vendor_id or task["vendor_id"]],
                details={"from_vendor": task["vendor_id"], "to_vendor": vendor_id},
            )

        await self.db.transaction(work)
        return {**task, **changes}

    async def drop(self, task: Doc, reason: str, by: str) -> tuple[ItemDropped, list[Doc]]:
        """End every task of the item and publish `item.dropped`; returns the event and the
        tasks as they are now (for the pool to forget)."""
        if task.get("gold_id"):
            raise AppError(
                "gold_task",
                "a gold task's item is not in a batch: retire the gold item instead",
                status_code=422,
            )
        clip = task.get("clip")
        event = ItemDropped(
            item_id=task["item_id"],
            project_id=task["project_id"],
            batch_id=task["batch_id"],
            org_id=task["org_id"],
            reason=reason,
            dropped_by=by,
            clips=int(clip["count"]) if clip is not None else None,
        )
        for attempt in range(DROP_ATTEMPTS):
            try:
                ended = await self.db.transaction(partial(self._drop, task, event))
                break
            except _Raced:  # read the slots again
                if attempt == DROP_ATTEMPTS - 1:
                    raise Conflict("busy", "the item's tasks kept changing; try again") from None
        self.outbox.notify()
        return event, ended

    async def _drop(
        self, flagged: Doc, event: ItemDropped, session: AsyncClientSession
    ) -> list[Doc]:
        found = await self.tasks.find(
            {"_id": {"$in": item_task_ids(flagged)}}, session=session
        ).to_list(None)
        still = next((t for t in found if t["_id"] == flagged["_id"]), None)
        if still is None or still["status"] != "flagged":  # decided by someone else meanwhile
            raise NotFlagged(still["status"] if still else "gone")
        tasks = [t for t in found if t["status"] != "dropped"]
        now = utcnow()
        records = await self._closing_records(tasks, now)
        if records:
            try:
                await self.slots.claims.insert_many(records, session=session)
            except BulkWriteError as error:
                raise _Raced() from error
        dropped = {"reason": event.reason, "by": event.dropped_by, "at": now}
        await self.tasks.update_many(
            {"_id": {"$in": [t["_id"] for t in tasks]}},
            {"$set": {"status": "dropped", "dropped": dropped}},
            session=session,
        )
        for task in tasks:
            await self.open_lists.close(
                session, task.get("group", ""), task["_id"], int(task.get("rework", 0))
            )
        await self.outbox.add(
            session,
            Envelope.wrap(event, org_ids=(event.org_id,), correlation_id=correlation_id.get()),
        )
        await self.audit.record(
            session,
            "item.dropped",
            event.item_id,
            orgs=[event.org_id],
            details={"batch_id": event.batch_id, "reason": event.reason, "tasks": len(tasks)},
        )
        return [{**t, "status": "dropped", "dropped": dropped} for t in tasks]

    async def _closing_records(self, tasks: Sequence[Doc], now: datetime) -> list[Doc]:
        """The `dropped` record of each task's round (`slots.dropping`), from the slots read
        outside the transaction: one taken meanwhile makes the insert fail, and it is read
        again."""
        heads = {t["_id"]: (int(t.get("rework", 0)), int(t.get("next_slot", 0))) for t in tasks}
        keys = [
            slot_key(task_id, round_, slot + k)
            for task_id, (round_, slot) in heads.items()
            for k in range(LOOKAHEAD)
        ]
        found = await self.slots.read_map(keys)
        by_id = {t["_id"]: t for t in tasks}
        closing = (
            dropping(by_id[task_id], round_, slot, found, now)
            for task_id, (round_, slot) in heads.items()
        )
        return [record for record in closing if record is not None]
