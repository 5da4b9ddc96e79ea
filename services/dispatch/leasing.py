"""The dispatcher: `next`, submit, heartbeat and give-back, fast.

`next` picks from this process's in-memory pool and takes the task's claim slot with an insert
that many concurrent requests share (group commit); submits share one transaction the same
way (see `claims.py` for why a slot decides). The pool is fed by this process's own events
(new tasks, rework, releases, expired leases), and every `pool_sync_s` (or sooner when an
annotator finds it empty) by an indexed read of the tasks that became pending since the last
read. Two processes offering the same task is harmless: one insert wins, and the loser takes
the next task.

Each process answers for the leases it granted (`leasebook.py`): it frees the abandoned ones,
and lists every lease in its journal, so that when a process dies another takes its leases
over (`adopt_silent`) and frees those nobody comes back to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.dispatch import claims as chain
from services.dispatch import domain
from services.dispatch.claim_store import ClaimChain, Closed, LeaseLost, closing_update
from services.dispatch.claims import Closing, Lease, Tracked
from services.dispatch.leasebook import Held, LeaseBook, granted
from services.dispatch.pool import SeenStates, Share, TaskPool
from services.dispatch.store import DispatchStore, needs_full_read
from services.dispatch.work_clock import WorkClock
from services.dispatch.worklimits import (
    Defaults,
    VendorLimits,
    median,
    seconds_to_next_day,
    worked_seconds,
)
from shared.errors import AppError, NotFound
from shared.events import Annotation, Envelope, TaskSubmitted
from shared.observability import correlation_id
from shared.settings import Settings
from shared.store.batching import Batcher
from shared.store.mongo import Doc, utcnow
from shared.web.longpoll import Waiters

log = logging.getLogger(__name__)

# How many tasks one `next` tries when other processes keep winning the claims.
CLAIM_ATTEMPTS = 5
# A miss reads what became pending at most this often (per process).
MISS_SYNC_S = 1.0
# Reads overlap by this much, so a write committed late (or a clock a little behind) is seen.
SYNC_OVERLAP = timedelta(seconds=2)
LIMITS_TTL_S = 10.0
MAX_OVERLAP = 10
# How long a claim or submit waits for others to share its write: each write costs the
# embedded database several milliseconds however few documents it holds.
GATHER_S = 0.005
IN_FLIGHT = 3  # group commits per kind on their way at once
GROUP_MAX = 25
# A process not heard from for this long no longer counts in the shares...
REPLICA_ALIVE_S = 5.0
# ... and after this long another takes over its leases.
REPLICA_SILENT_S = 10.0
# A takeover not finished this long after it was won (its process died too) is up for grabs.
ADOPTION_S = 30.0
# Slots a lookup of someone else's lease reads past the one its id names (re-leases by
# heartbeat move a lease forward; more than a few in a row does not happen).
FOLLOW_SLOTS = 3
# Tasks created by this process, kept until offered (in case the offer never comes).
CREATED_KEPT = 10_000
# Task states remembered as seen, so a pool read skips them (one forgotten is read again).
SEEN_KEPT = 200_000


@dataclass(frozen=True)
class Leased:
    """A task and the lease on it that a worker call acts on."""

    task: Doc
    lease: Lease


@dataclass(frozen=True)
class Claim:
    task: Doc
    lease: Lease

    @property
    def item_id(self) -> str:
        return str(self.task["item_id"])

    @property
    def overlapping(self) -> bool:
        return int(self.task.get("overlap", 1)) > 1


class Dispatcher:
    def __init__(self, store: DispatchStore, claims: ClaimChain, settings: Settings) -> None:
        self.store = store
        self.chain = claims
        self.settings = settings
        self.defaults = Defaults(settings.default_daily_hours, settings.intern_daily_hours)
        self.pool = TaskPool()
        self.book = LeaseBook()
        self.replica_id = secrets.token_hex(8)
        self.waiters = Waiters()
        # Groups of claims (of submits) never touch the same documents, so several may be on
        # their way to the database at once.
        self._claims: Batcher[Claim, Leased | None] = Batcher(
            self._claim_group, max_size=GROUP_MAX, gather_s=GATHER_S, in_flight=IN_FLIGHT
        )
        self._submits: Batcher[Closed, str] = Batcher(
            claims.submit_many, max_size=GROUP_MAX, gather_s=GATHER_S, in_flight=IN_FLIGHT
        )
        self._sync_lock = asyncio.Lock()
        self._synced_at = 0.0
        self._read_since: datetime | None = None
        self._claiming: set[str] = set()
        self._offered_during_sync: list[Doc] | None = None
        self._created: dict[str, list[Doc]] = {}
        self._seen = SeenStates(SEEN_KEPT)
        self._journal_next = 0
        self._journal_writing: set[int] = set()
        self._journal_dropped_below = 0
        self._handling: dict[str, deque[float]] = {}
        self._limits: dict[str, tuple[float, VendorLimits]] = {}
        self.clock = WorkClock(store)

    # ----- feeding the pool ----------------------------------------------------------------

    def offer(self, docs: Iterable[Doc]) -> None:
        """Tasks that may be pending now; anything else is dropped from the pool."""
        added = False
        for doc in docs:
            self._seen.note(doc)
            if self._offered_during_sync is not None:
                self._offered_during_sync.append(doc)
            if doc["status"] == "pending":
                if self._held_here(doc["_id"]):
                    continue
                self.pool.add(doc)
                added = True
            else:
                self.pool.remove(doc["_id"])
        if added:
            self.waiters.wake()

    async def refresh(self, task_ids: Iterable[str]) -> None:
        self.offer(await self.store.load_tasks(list(task_ids)))

    def remember_created(self, tasks: Sequence[Doc]) -> None:
        """Tasks this process's consumer is writing: offered as written once committed."""
        for task in tasks:
            self._created.setdefault(task["item_id"], []).append(task)
        while len(self._created) > CREATED_KEPT:
            self._created.pop(next(iter(self._created)))

    async def offer_created(self, item_ids: Iterable[str]) -> None:
        missing: list[str] = []
        for item_id in item_ids:
            tasks = self._created.pop(item_id, None)
            if tasks is None:
                missing.append(item_id)
            else:
                self.offer({t["_id"]: t for t in tasks}.values())  # the last write of each
        if missing:
            await self.refresh(
                task_id
                for item_id in missing
                for task_id in (
                    *(domain.task_id(item_id, slot) for slot in range(MAX_OVERLAP)),
                    domain.gold_task_id(item_id),
                )
            )

    async def sync(self, full: bool = False) -> None:
        """Read what became pending since the last read; `full` re-reads everything pending
        and forgets the rest."""
        async with self._sync_lock:
            started = utcnow()
            if full or self._read_since is None:
                self._offered_during_sync = []
                try:
                    pending = await self.store.load_pending()
                finally:
                    # What was offered while reading may be newer than what was read.
                    offered, self._offered_during_sync = self._offered_during_sync, None
                self._seen.note_all(pending)
                self.pool.replace_all([d for d in pending if not self._held_here(d["_id"])])
                self.offer(offered)
                self.waiters.wake()
            else:
                self.offer(await self.store.load_changed(self._read_since, self._seen_as_is))
            self._read_since = started - SYNC_OVERLAP
            self._synced_at = time.monotonic()

    def _held_here(self, task_id: str) -> bool:
        """This process holds the task, or is taking it right now."""
        return task_id in self._claiming or task_id in self.book

    def _seen_as_is(self, stamp: Doc) -> bool:
        return self._held_here(stamp["_id"]) or self._seen.saw(stamp)

    async def full_sync(self) -> None:
        await self.sync(full=True)

    async def _sync_after_miss(self) -> None:
        if time.monotonic() - self._synced_at >= MISS_SYNC_S and not self._sync_lock.locked():
            await self.sync()

    # ----- processes -----------------------------------------------------------------------

    async def beat(self) -> None:
        """Say this process is alive and what it holds; learn which share of the pending
        tasks it prefers among the live ones."""
        await self.store.beat(
            self.replica_id,
            len(self.book),
            sorted(self.book.holders()),
            sorted(self.book.journals() | self._journal_writing),
            self._journal_next,
        )
        alive = await self.store.live_replicas(REPLICA_ALIVE_S)
        if self.replica_id in alive:
            self.pool.share = Share(alive.index(self.replica_id), len(alive))

    async def adopt_silent(self) -> int:
        """Take over the leases of processes that stopped saying they are alive: list them
        in this process's journal, then free those nobody comes back to. Returns how many."""
        adopted = 0
        for replica_id in await self.store.silent_replicas(REPLICA_SILENT_S):
            if replica_id == self.replica_id:
                continue
            silent = await self.store.replica(replica_id)
            if silent is None or not await self.store.adopt(
                replica_id, self.replica_id, REPLICA_SILENT_S, ADOPTION_S
            ):
                continue  # gone, or another process won it
            try:
                taken = await self._take_over(replica_id, silent)
            except Exception:
                # Let another process (or this one, next beat) try again at once.
                with contextlib.suppress(Exception):
                    await self.store.give_up_adoption(replica_id, self.replica_id)
                raise
            adopted += taken
            log.info("replica.adopted", extra={"replica": replica_id, "leases": taken})
        return adopted

    async def _take_over(self, replica_id: str, silent: Doc) -> int:
        """List a silent process's latest leases in this process's journal and answer for
        them; then forget that process. Done twice (a takeover cut short and retried), it
        only tracks some leases twice, and a lease is freed once whoever frees it first."""
        docs = await self.chain.read_journal(
            replica_id, silent.get("journals", []), int(silent.get("journal_next", 0))
        )
        latest: dict[str, Tracked] = {}
        for entry in (e for d in docs for e in chain.journal_entries(d)):
            known = latest.get(entry.task_id)
            if known is None or (entry.round, entry.slot) > (known.round, known.slot):
                latest[entry.task_id] = entry
        if latest:
            number = await self._journal(list(latest.values()))
            for entry in latest.values():
                self.book.add(Held(entry, number))
        await self.chain.drop_journal([d["_id"] for d in docs])
        await self.store.forget_replica(replica_id)
        return len(latest)

    async def leave(self) -> None:
        """A graceful stop: another process takes over this one's leases at once."""
        await self.store.hand_over(self.replica_id)

    async def _journal(self, entries: Sequence[Tracked]) -> int:
        number = self._next_journal()
        try:
            await self.chain.write_journal(
                chain.journal_doc(self.replica_id, number, entries, utcnow())
            )
        finally:
            self._journal_writing.discard(number)
        return number

    def _next_journal(self) -> int:
        number = self._journal_next
        self._journal_next += 1
        self._journal_writing.add(number)
        return number

    async def trim_journal(self) -> None:
        """Delete this process's journal documents that no longer list a lease it tracks."""
        keep = [self._journal_next, *self._journal_writing]
        if (oldest := self.book.oldest_journal()) is not None:
            keep.append(oldest)
        below = min(keep)
        if below > self._journal_dropped_below:
            numbers = range(self._journal_dropped_below, below)
            await self.chain.drop_journal(chain.journal_keys(self.replica_id, numbers))
            self._journal_dropped_below = below

    # ----- the worker's calls --------------------------------------------------------------

    async def lease(self, vendor_id: str, annotator_id: str, wait_s: float) -> Leased | None:
        """The best task for this annotator, waiting up to `wait_s` for one to appear."""
        await self.check_limit(vendor_id, annotator_id)
        # A miss reads what became pending (rate-limited); news it finds ends the wait at once.
        return await self.waiters.poll(
            lambda: self._try_lease(vendor_id, annotator_id), wait_s, self._sync_after_miss
        )

    async def _try_lease(self, vendor_id: str, annotator_id: str) -> Leased | None:
        for _ in range(CLAIM_ATTEMPTS):
            now = utcnow()
            steal_after = now - timedelta(seconds=self.settings.backlog_takeover_s)
            pick = self.pool.take(vendor_id, annotator_id, now, steal_after)
            if pick is None:
                return None
            # Block the item's other copies for this annotator before the claim is written,
            # so a concurrent `next` of the same person cannot take a sibling.
            self.pool.block(pick.entry.item_id, annotator_id)
            task = pick.entry.doc
            lease = Lease.new(task, annotator_id, pick.vendor_id, now, self.settings.lease_ttl_s)
            self._claiming.add(lease.task_id)
            try:
                leased = await self._claims.submit(Claim(task, lease))
            finally:
                self._claiming.discard(lease.task_id)
            if leased is not None:
                return leased
        return None

    async def _claim_group(self, claims: Sequence[Claim]) -> list[Leased | None]:
        """Take the slots of many claims in one insert (and their item marks, for overlap)."""
        allowed = [True] * len(claims)
        marks = [i for i, c in enumerate(claims) if c.overlapping]
        marked: list[int] = []
        if marks:
            ok, written = await self.chain.mark_items(
                [(claims[i].lease, claims[i].item_id) for i in marks]
            )
            for i, fine in zip(marks, ok, strict=True):
                allowed[i] = fine
            marked = [marks[j] for j in written]
        trying = [i for i in range(len(claims)) if allowed[i]]
        won = [False] * len(claims)
        if trying:
            leases = [claims[i].lease for i in trying]
            number = self._next_journal()
            journal = chain.journal_doc(
                self.replica_id, number, [le.tracked for le in leases], utcnow()
            )
            try:
                outcomes = await self.chain.insert_leases(leases, self.replica_id, journal)
            except Exception:
                # The outcome is unknown: whatever was written is freed at its expiry.
                for i in trying:
                    self.book.add(granted(claims[i].lease, claims[i].task, number))
                raise
            finally:
                self._journal_writing.discard(number)
            for i, fine in zip(trying, outcomes, strict=True):
                won[i] = fine
                if fine:
                    self.book.add(granted(claims[i].lease, claims[i].task, number))
        lost_marks = [(claims[i].lease, claims[i].item_id) for i in marked if not won[i]]
        if lost_marks:
            await self.chain.unmark(lost_marks)
        return await self._leased([c if w else None for c, w in zip(claims, won, strict=True)])

    async def _leased(self, won: list[Claim | None]) -> list[Leased | None]:
        """The tasks as their new holders see them: taken-over backlog belongs to the vendor
        doing it, and a task the pool kept in part is read whole."""
        mine = [c for c in won if c is not None]
        await self.chain.take_over(
            [c.lease for c in mine if c.lease.vendor_id != c.task["vendor_id"]]
        )
        full = {
            d["_id"]: d
            for d in await self.store.load_tasks(
                [c.lease.task_id for c in mine if needs_full_read(c.task)]
            )
        }
        result: list[Leased | None] = []
        for c in won:
            if c is None:
                result.append(None)
                continue
            task = {**full.get(c.lease.task_id, c.task), "vendor_id": c.lease.vendor_id}
            self.book.as_leased(c.lease.task_id, task)
            result.append(Leased(task, c.lease))
        return result

    async def held(self, vendor_id: str, annotator_id: str, task_id: str, lease_id: str) -> Leased:
        """The task and lease this annotator acts on (404 for anyone else, so ids do not
        leak). The lease may have ended meanwhile: each write checks its slot."""
        parsed = chain.parse_lease_id(lease_id)
        if parsed is None:
            raise NotFound("task")
        round_, slot, nonce = parsed
        if (granted_here := self.book.granted(task_id, nonce)) is not None:
            lease, task = granted_here
            if (lease.annotator_id, lease.vendor_id) != (annotator_id, vendor_id):
                raise NotFound("task")
            return Leased(task, lease)
        keys = [chain.slot_key(task_id, round_, slot + k) for k in range(FOLLOW_SLOTS + 1)]
        records = await self.chain.read_map(keys)
        first = records.get(keys[0])
        if first is None or not chain.is_lease(first) or first["nonce"] != nonce:
            raise NotFound("task")
        if (first["annotator_id"], first["vendor_id"]) != (annotator_id, vendor_id):
            raise NotFound("task")
        latest = chain.follow(first, {int(d["slot"]): d for d in records.values()})
        current = await self.store.get_task(task_id)
        if current is None:
            raise NotFound("task")
        return Leased(current, Lease.from_doc(latest))

    async def submit(self, held: Leased, annotation: Annotation) -> str:
        lease, task = held.lease, held.task
        now = utcnow()
        seconds = worked_seconds(lease.started_at, now)
        submission_id = domain.submission_id()
        record = chain.closing_doc(
            lease,
            Closing.SUBMITTED,
            now,
            submission_id=submission_id,
            handling_s=seconds,
            annotation=annotation.model_dump(mode="json"),
        )
        event = submitted_event(task, lease, submission_id, annotation, seconds)
        closed = Closed(lease, record, task.get("group", ""), event)
        submission_id = await self._submits.submit(closed)
        self.book.forget(lease.task_id, lease.round, lease.slot)
        self._count_worked(lease.vendor_id, lease.annotator_id, seconds)
        self._handled(task["project_id"], seconds)
        return submission_id

    async def heartbeat(self, held: Leased) -> Lease:
        expires_at = utcnow() + timedelta(seconds=self.settings.lease_ttl_s)
        lease = await self.chain.heartbeat(held.lease, expires_at, self.replica_id)
        if lease.slot != held.lease.slot:  # taken again in a new slot: journal and track it
            number = await self._journal([lease.tracked])
            self.book.add(granted(lease, held.task, number))
        else:
            self.book.extended(lease.task_id, lease)
        return lease

    async def give_back(self, held: Leased, skip: Doc | None = None) -> None:
        """Release (skip=None) or skip: the task returns to the pool; a skipped one is blocked
        for this annotator, and flagged for an operator after `max_skips` skips."""
        lease, now = held.lease, utcnow()
        kind = Closing.RELEASED if skip is None else Closing.SKIPPED
        record = chain.closing_doc(lease, kind, now)
        update = closing_update(kind, lease, now, skip)
        task = await self.chain.give_back(
            lease, record, update, self.settings.max_skips, held.task.get("group", "")
        )
        self.book.forget(lease.task_id, lease.round, lease.slot)
        self._count_worked(
            lease.vendor_id, lease.annotator_id, worked_seconds(lease.started_at, now)
        )
        self.offer([task])

    async def expire_leases(self) -> int:
        """Free the abandoned leases this process answers for. Returns how many."""
        now = utcnow()
        due = self.book.due(now)
        if not due:
            return 0
        records = await self.chain.read_map(
            [k for h in due for k in (h.tracked.key, h.tracked.next_key)]
        )
        expired: list[Tracked] = []
        for held in due:
            t = held.tracked
            current, after = records.get(t.key), records.get(t.next_key)
            if current is None:
                self.book.forget(t.task_id, t.round, t.slot)  # never written
            elif after is not None:
                if chain.is_lease(after) and after["nonce"] == current["nonce"]:
                    self.book.wait_until(t.task_id, after["expires_at"], slot=t.slot + 1)
                else:
                    self.book.forget(t.task_id, t.round, t.slot)  # closed, or taken by another
            elif current["expires_at"] > now:
                self.book.wait_until(t.task_id, current["expires_at"])  # extended elsewhere
            else:
                expired.append(t)
        freed = await self.chain.free(expired, now)
        for t in expired:
            self.book.forget(t.task_id, t.round, t.slot)
        self.offer(freed)
        return len(expired)

    # ----- estimates and limits ------------------------------------------------------------

    async def estimated_seconds(self, project_id: str) -> float | None:
        """The median handling time of the project's recent submissions."""
        if project_id not in self._handling:
            recent = await self.store.recent_handling_times(project_id)
            self._handling.setdefault(project_id, deque(recent, maxlen=200))
        return median(list(self._handling[project_id]))

    def _handled(self, project_id: str, seconds: float) -> None:
        self._handling.setdefault(project_id, deque(maxlen=200)).append(seconds)
        self.clock.handled(project_id, seconds)

    async def limits_for(self, vendor_id: str) -> VendorLimits:
        cached = self._limits.get(vendor_id)
        if cached is None or time.monotonic() - cached[0] > LIMITS_TTL_S:
            cached = (time.monotonic(), await self.store.vendor_limits(vendor_id))
            self._limits[vendor_id] = cached
        return cached[1]

    def forget_limits(self, vendor_id: str) -> None:
        self._limits.pop(vendor_id, None)

    async def worked_today(self, vendor_id: str, annotator_id: str) -> float:
        return await self.clock.worked_today(vendor_id, annotator_id)

    def _count_worked(self, vendor_id: str, annotator_id: str, seconds: float) -> None:
        self.clock.add(vendor_id, annotator_id, seconds)

    async def daily_limit_s(self, vendor_id: str, annotator_id: str) -> float:
        limits = await self.limits_for(vendor_id)
        return limits.daily_hours(annotator_id, self.defaults) * 3600

    async def check_limit(self, vendor_id: str, annotator_id: str) -> None:
        limit_s = await self.daily_limit_s(vendor_id, annotator_id)
        worked_s = await self.worked_today(vendor_id, annotator_id)
        if worked_s >= limit_s:
            retry = seconds_to_next_day(utcnow())
            raise AppError(
                "daily_limit_reached",
                f"today's work limit of {limit_s / 3600:g} h is reached; "
                "new tasks are offered again tomorrow (UTC)",
                status_code=429,
                details={"limit_s": limit_s, "worked_s": round(worked_s, 1)},
                headers={"Retry-After": str(retry)},
            )


def submitted_event(
    task: Doc, lease: Lease, submission_id: str, annotation: Annotation, seconds: float
) -> Envelope:
    submitted = TaskSubmitted(
        task_id=task["_id"],
        submission_id=submission_id,
        item_id=task["item_id"],
        project_id=task["project_id"],
        batch_id=task["batch_id"],
        org_id=task["org_id"],
        vendor_id=lease.vendor_id,
        annotator_id=lease.annotator_id,
        ontology_version=task["ontology_version"],
        image=task["image"],
        annotation=annotation,
        rework=lease.round,
        seconds_worked=seconds,
        gold_id=task.get("gold_id"),
    )
    return Envelope.wrap(
        submitted,
        org_ids=(task["org_id"], lease.vendor_id),
        correlation_id=correlation_id.get(),
    )


__all__ = ["Dispatcher", "LeaseLost", "Leased"]
