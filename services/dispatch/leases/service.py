"""`Leases`: the one interface the rest of dispatch uses to lease, extend, end and free.

Behind it, slots decide who holds a task (`slots.py`, ADR 0006): a lease is an insert of a
unique key, and concurrent leases share one insert (group commit), concurrent submits one
transaction. Abandoned leases are freed by a sweep that any process may run: it reads the
records whose lease expired since the last sweep through a date index (ADR 0008), so a
process that dies leaves nothing that another must adopt. The leases this process granted
are kept in memory with their tasks, so the holder's next call needs no read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from services.dispatch.domain import copy_key, submission_id, submitted_event
from services.dispatch.leases.open_lists import OpenLists, open_round
from services.dispatch.leases.repository import SlotRepository, Submission, giving_back
from services.dispatch.leases.slots import (
    Lease,
    LeasedTask,
    LeaseEnd,
    abandoned,
    ending_doc,
    follow,
    is_lease,
    parse_lease_id,
    slot_key,
)
from services.dispatch.store import TaskStore, needs_full_read
from services.dispatch.worklimits import worked_seconds
from shared.errors import NotFound
from shared.events import Annotation, TrackAnnotation, Transcript
from shared.settings import Settings
from shared.store.batching import Batcher
from shared.store.erasure import Tombstones
from shared.store.mongo import Doc, utcnow

# Slots a lookup of someone else's lease reads past the one its id names (re-leases by
# heartbeat move a lease forward; more than a few in a row does not happen).
FOLLOW_SLOTS = 3


class Leases:
    def __init__(
        self,
        slots: SlotRepository,
        tasks: TaskStore,
        settings: Settings,
        tombstones: Tombstones | None = None,
    ) -> None:
        self.slots = slots
        self.tombstones = tombstones
        self.open_lists: OpenLists = slots.open_lists
        self.tasks = tasks
        self.settings = settings
        self._granted: dict[str, LeasedTask] = {}  # task id -> as its holder was given it
        self._taking: set[str] = set()
        # Groups of leases (of submits) never touch the same documents, so several may be on
        # their way to the database at once: each write costs the embedded database several
        # milliseconds however few documents it holds.
        size, wait = settings.dispatch_group_max, settings.dispatch_group_wait_s
        in_flight = settings.dispatch_groups_in_flight
        self._takes: Batcher[LeasedTask, LeasedTask | None] = Batcher(
            self._take_group, max_size=size, gather_s=wait, in_flight=in_flight
        )
        self._submits: Batcher[Submission, str] = Batcher(
            slots.submit_many, max_size=size, gather_s=wait, in_flight=in_flight
        )

    # ----- what this process holds ---------------------------------------------------------

    def holds(self, task_id: str) -> bool:
        """This process granted the task's lease, or is taking it right now."""
        return task_id in self._taking or task_id in self._granted

    def __len__(self) -> int:
        return len(self._granted)

    def holders(self) -> list[str]:
        """The annotators holding leases this process granted."""
        return sorted({t.lease.annotator_id for t in self._granted.values()})

    def forget_tasks(self, task_ids: Iterable[str]) -> None:
        """Deleted tasks: the leases this process granted on them end at once."""
        for task_id in task_ids:
            self._granted.pop(task_id, None)

    def _forget(self, lease: Lease) -> None:
        here = self._granted.get(lease.task_id)
        if here is not None and here.lease.nonce == lease.nonce:
            del self._granted[lease.task_id]

    # ----- taking --------------------------------------------------------------------------

    async def take(
        self, task: Doc, annotator_id: str, vendor_id: str, now: datetime
    ) -> LeasedTask | None:
        """Lease `task` (as the pool knows it) to this annotator; None when another process
        or request took its slot first."""
        lease = Lease.new(task, annotator_id, vendor_id, now, self.settings.lease_ttl_s)
        self._taking.add(lease.task_id)
        try:
            return await self._takes.submit(LeasedTask(task, lease))
        finally:
            self._taking.discard(lease.task_id)

    async def _take_group(self, wanted: Sequence[LeasedTask]) -> list[LeasedTask | None]:
        """Take the slots of many leases in one insert (and their item marks, for overlap)."""
        allowed = [True] * len(wanted)
        copies = [i for i, w in enumerate(wanted) if int(w.task.get("overlap", 1)) > 1]
        # A clip's overlaps are marked per clip: one person may do several clips of a video.
        marks = [(wanted[i].lease, copy_key(wanted[i].task)) for i in copies]
        ok, written = await self.slots.mark_items(marks)
        for i, fine in zip(copies, ok, strict=True):
            allowed[i] = fine
        trying = [i for i in range(len(wanted)) if allowed[i]]
        won = [False] * len(wanted)
        # A failure leaves the outcome unknown: whatever was written, the sweep frees.
        outcomes = await self.slots.insert_leases([wanted[i].lease for i in trying])
        for i, fine in zip(trying, outcomes, strict=True):
            won[i] = fine
        if lost := [marks[j] for j in written if not won[copies[j]]]:
            await self.slots.unmark(lost)
        return await self._granting([w if ok else None for w, ok in zip(wanted, won, strict=True)])

    async def _granting(self, won: list[LeasedTask | None]) -> list[LeasedTask | None]:
        """The tasks as their holders see them: taken-over backlog belongs to the vendor
        doing it, and a task the pool kept in part is read whole."""
        mine = [w for w in won if w is not None]
        await self.slots.reassign(
            [w.lease for w in mine if w.lease.vendor_id != w.task["vendor_id"]]
        )
        whole = [w.lease.task_id for w in mine if needs_full_read(w.task)]
        full = {d["_id"]: d for d in await self.tasks.load_tasks(whole)}
        result: list[LeasedTask | None] = []
        for w in won:
            if w is not None:
                task = {**full.get(w.lease.task_id, w.task), "vendor_id": w.lease.vendor_id}
                w = self._granted[w.lease.task_id] = LeasedTask(task, w.lease)
            result.append(w)
        return result

    # ----- the holder's calls --------------------------------------------------------------

    async def held(
        self, vendor_id: str, annotator_id: str, task_id: str, lease_id: str
    ) -> LeasedTask:
        """The task and lease this annotator acts on (404 for anyone else, so ids do not
        leak). The lease may have ended meanwhile: each write checks its slot."""
        parsed = parse_lease_id(lease_id)
        if parsed is None:
            raise NotFound("task")
        round_, slot, nonce = parsed
        here = self._granted.get(task_id)
        if here is not None and here.lease.nonce == nonce:
            if (here.lease.annotator_id, here.lease.vendor_id) != (annotator_id, vendor_id):
                raise NotFound("task")
            if self.tombstones and self.tombstones.covers_record(here.task, here.lease.started_at):
                del self._granted[task_id]  # its item was deleted: the lease ended with it
                raise NotFound("task")
            return here
        keys = [slot_key(task_id, round_, slot + k) for k in range(FOLLOW_SLOTS + 1)]
        records = await self.slots.read_map(keys)
        first = records.get(keys[0])
        if first is None or not is_lease(first) or first["nonce"] != nonce:
            raise NotFound("task")
        if (first["annotator_id"], first["vendor_id"]) != (annotator_id, vendor_id):
            raise NotFound("task")
        latest = follow(first, {int(d["slot"]): d for d in records.values()})
        current = await self.tasks.get_task(task_id)
        if current is None:
            raise NotFound("task")
        return LeasedTask(current, Lease.from_doc(latest))

    async def heartbeat(self, held: LeasedTask) -> Lease:
        expires_at = utcnow() + timedelta(seconds=self.settings.lease_ttl_s)
        lease = await self.slots.heartbeat(held.lease, expires_at)
        self._granted[lease.task_id] = LeasedTask(held.task, lease)
        return lease

    async def submit(
        self,
        held: LeasedTask,
        annotation: Annotation,
        tracks: TrackAnnotation | None = None,
        transcript: Transcript | None = None,
    ) -> tuple[str, float]:
        """End the lease with the annotation (a video clip's tracks, an audio part's
        transcript); the `task.submitted` event commits with it. Returns the submission id and
        the seconds worked."""
        lease, task, now = held.lease, held.task, utcnow()
        seconds = worked_seconds(lease.started_at, now)
        new_id = submission_id()
        record = ending_doc(
            lease,
            LeaseEnd.SUBMITTED,
            now,
            submission_id=new_id,
            handling_s=seconds,
            annotation=annotation.model_dump(mode="json"),
            tracks=tracks.model_dump(mode="json") if tracks is not None else None,
            transcript=transcript.model_dump(mode="json") if transcript is not None else None,
        )
        event = submitted_event(task, lease, new_id, annotation, seconds, tracks, transcript)
        done = await self._submits.submit(Submission(lease, record, task.get("group", ""), event))
        self._forget(lease)
        return done, seconds

    async def give_back(self, held: LeasedTask, skip: Doc | None = None) -> tuple[Doc, float]:
        """Release (skip=None) or skip: the task returns to the pool; a skipped one is blocked
        for this annotator, and flagged after `max_skips` skips. Returns the task as it is
        now and the seconds the lease was held."""
        lease, now = held.lease, utcnow()
        end = LeaseEnd.RELEASED if skip is None else LeaseEnd.SKIPPED
        task = await self.slots.give_back(
            lease,
            ending_doc(lease, end, now),
            giving_back(end, lease, now, skip),
            self.settings.max_skips,
            held.task.get("group", ""),
        )
        self._forget(lease)
        return task, worked_seconds(lease.started_at, now)

    async def states(self, tasks: Sequence[Doc]) -> dict[str, str]:
        """Each task's state: `flagged` or `dropped`; `leased` when open and its next slot
        holds a lease; `pending` when open; else `submitted` (off its open list)."""
        open_now = await self.open_lists.open_entries({t.get("group", "") for t in tasks})
        next_slots = {
            slot_key(t["_id"], t.get("rework", 0), t.get("next_slot", 0)): t["_id"]
            for t in tasks
            if t["status"] == "pending" and open_round(t) in open_now
        }
        records = await self.slots.read_map(list(next_slots))
        leased = {task_id for key, task_id in next_slots.items() if is_lease(records.get(key))}
        pending = set(next_slots.values())

        def state(task: Doc) -> str:
            if task["status"] in ("flagged", "dropped"):
                return str(task["status"])
            if task["_id"] in leased:
                return "leased"
            return "pending" if task["_id"] in pending else "submitted"

        return {t["_id"]: state(t) for t in tasks}

    # ----- freeing what was abandoned ------------------------------------------------------

    async def sweep(self, now: datetime) -> list[Doc]:
        """Free the leases, granted by any process, that expired since the last sweep with
        nothing after them; returns the tasks this sweep freed. Every lease is written before
        it expires, so a range once swept needs no second look; two processes
        sweeping the same range free each task once (the write is conditional on the slot)."""
        after = await self.slots.swept_until()
        page = self.settings.lease_sweep_page
        records = await self.slots.expiring(after, now, page)
        until = now
        if len(records) == page:  # the rest waits for the next sweep, ties with the last read
            until = records[-1]["expires_at"]
            ties = await self.slots.expiring(until - timedelta(milliseconds=1), until, 0)
            records = [r for r in records if r["expires_at"] < until] + ties
        after_each = {
            slot_key(r["task_id"], r["round"], r["slot"] + 1): r for r in abandoned(records, now)
        }
        ended = await self.slots.read_map(list(after_each))
        expired = [r for key, r in after_each.items() if key not in ended]
        freed = await self.slots.free(expired, now)
        await self.slots.mark_swept(until)
        return freed

    def forget_expired(self, now: datetime) -> None:
        """Stop answering from memory for leases past their time (the sweep decides them)."""
        for task_id in [t for t, held in self._granted.items() if held.lease.expires_at < now]:
            del self._granted[task_id]
