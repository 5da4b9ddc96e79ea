"""The dispatcher: `next`, submit and give-back, fast.

`next` picks from this process's in-memory pool and claims with a conditional write that many
concurrent requests share (group commit); submits share one transaction the same way. The pool
is fed by this process's own events (new tasks, rework, releases, expired leases), and every
`pool_sync_s` (or sooner when an annotator finds it empty) by an indexed read of the tasks that
became pending since the last read, so tasks other replicas created or freed are offered too.
A full re-read now and then drops what other replicas took. Two replicas offering the same
task is harmless: the claim is decided by the database, and the loser takes the next one.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from datetime import datetime, timedelta

from services.dispatch import domain
from services.dispatch.pool import Share, TaskPool
from services.dispatch.store import Claim, DispatchStore, Submit
from services.dispatch.worklimits import (
    Defaults,
    VendorLimits,
    day_of,
    median,
    seconds_to_next_day,
)
from shared.batching import Batcher
from shared.errors import AppError
from shared.events import Annotation
from shared.longpoll import Waiters
from shared.mongo import Doc, utcnow
from shared.settings import Settings

log = logging.getLogger(__name__)

# How many tasks one `next` tries when other processes keep winning the claims.
CLAIM_ATTEMPTS = 5
# A miss reads what became pending at most this often (per process).
MISS_SYNC_S = 1.0
# Reads overlap by this much, so a write committed late (or a clock a little behind) is seen.
SYNC_OVERLAP = timedelta(seconds=5)
LIMITS_TTL_S = 10.0
WORKED_TTL_S = 5.0
MAX_OVERLAP = 10
# How long a claim or submit waits for others to share its write: each write costs the
# embedded database several milliseconds however few documents it holds.
GATHER_S = 0.005
# A process not heard from for this long no longer counts in the shares.
REPLICA_ALIVE_S = 5.0


class Dispatcher:
    def __init__(self, store: DispatchStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.defaults = Defaults(settings.default_daily_hours, settings.intern_daily_hours)
        self.pool = TaskPool()
        self.replica_id = secrets.token_hex(8)
        self.waiters = Waiters()
        self._claims: Batcher[Claim, Doc | None] = Batcher(
            store.claim, max_size=100, gather_s=GATHER_S
        )
        self._submits: Batcher[Submit, str] = Batcher(
            store.submit_many, max_size=100, gather_s=GATHER_S
        )
        self._sync_lock = asyncio.Lock()
        self._synced_at = 0.0
        self._read_since: datetime | None = None
        self._claiming: set[str] = set()
        # Tasks this process leased, as leased: submit and heartbeat need not read them again.
        self._held: dict[str, Doc] = {}
        self._offered_during_sync: list[Doc] | None = None
        self._handling: dict[str, deque[float]] = {}
        self._limits: dict[str, tuple[float, VendorLimits]] = {}
        self.clock = WorkClock(store)

    # ----- feeding the pool ----------------------------------------------------------------

    def offer(self, docs: Iterable[Doc]) -> None:
        """Tasks that may be pending now; anything else is dropped from the pool."""
        added = False
        for doc in docs:
            if self._offered_during_sync is not None:
                self._offered_during_sync.append(doc)
            if doc["status"] == "pending":
                if doc["_id"] in self._claiming:
                    continue  # read before this process's own claim committed
                self.pool.add(doc)
                added = True
            else:
                self.pool.remove(doc["_id"])
        if added:
            self.waiters.wake()

    async def refresh(self, task_ids: Iterable[str]) -> None:
        self.offer(await self.store.load_tasks(list(task_ids)))

    async def refresh_items(self, item_ids: Iterable[str]) -> None:
        await self.refresh(
            task_id
            for item_id in item_ids
            for task_id in (
                *(domain.task_id(item_id, slot) for slot in range(MAX_OVERLAP)),
                domain.gold_task_id(item_id),
            )
        )

    async def sync(self, full: bool = False) -> None:
        """Read what became pending since the last read; `full` re-reads everything pending
        and forgets the rest (tasks other processes took)."""
        async with self._sync_lock:
            started = utcnow()
            if full or self._read_since is None:
                self._offered_during_sync = []
                try:
                    pending = await self.store.load_pending()
                finally:
                    # What was offered while reading may be newer than what was read.
                    offered, self._offered_during_sync = self._offered_during_sync, None
                self.pool.replace_all([d for d in pending if d["_id"] not in self._claiming])
                self.offer(offered)
                self.waiters.wake()
            else:
                self.offer(await self.store.load_pending(since=self._read_since))
            self._read_since = started - SYNC_OVERLAP
            self._synced_at = time.monotonic()

    async def full_sync(self) -> None:
        await self.sync(full=True)

    async def update_share(self) -> None:
        """Which share of the pending tasks this process prefers, among the live ones."""
        alive = await self.store.live_replicas(self.replica_id, REPLICA_ALIVE_S)
        if self.replica_id in alive:
            self.pool.share = Share(alive.index(self.replica_id), len(alive))

    async def leave(self) -> None:
        await self.store.forget_replica(self.replica_id)

    async def _sync_after_miss(self) -> None:
        if time.monotonic() - self._synced_at >= MISS_SYNC_S and not self._sync_lock.locked():
            await self.sync()

    async def expire_leases(self) -> int:
        freed = await self.store.expire_leases()
        # Forget leases past their first expiry (a heartbeat may have extended one: then the
        # next call reads it from the database).
        now = utcnow()
        for task_id, doc in list(self._held.items()):
            if doc["lease"]["expires_at"] < now:
                del self._held[task_id]
        self.offer(freed)
        return len(freed)

    # ----- the worker's calls --------------------------------------------------------------

    async def lease(self, vendor_id: str, annotator_id: str, wait_s: float) -> Doc | None:
        """The best task for this annotator, waiting up to `wait_s` for one to appear."""
        await self.check_limit(vendor_id, annotator_id)
        # A miss reads what became pending (rate-limited); news it finds ends the wait at once.
        return await self.waiters.poll(
            lambda: self._try_lease(vendor_id, annotator_id), wait_s, self._sync_after_miss
        )

    async def _try_lease(self, vendor_id: str, annotator_id: str) -> Doc | None:
        for _ in range(CLAIM_ATTEMPTS):
            now = utcnow()
            steal_after = now - timedelta(seconds=self.settings.backlog_takeover_s)
            pick = self.pool.take(vendor_id, annotator_id, now, steal_after)
            if pick is None:
                return None
            # Block the item's other copies for this annotator before the claim is written,
            # so a concurrent `next` of the same person cannot take a sibling.
            self.pool.block(pick.entry.item_id, annotator_id)
            claim = Claim.new(pick.entry.doc, annotator_id, pick.vendor_id, self.lease_ttl_s)
            self._claiming.add(claim.task_id)
            try:
                task = await self._claims.submit(claim)
            finally:
                self._claiming.discard(claim.task_id)
            if task is not None:
                self._held[task["_id"]] = task
                return task
        return None

    async def held_task(self, vendor_id: str, annotator_id: str, task_id: str) -> Doc:
        """The task as held by this annotator (404 for anyone else)."""
        known = self._held.get(task_id)
        if known is not None and (known.get("lease") or {}).get("annotator_id") != annotator_id:
            known = None
        return await self.store.get_held_task(vendor_id, annotator_id, task_id, known)

    @property
    def lease_ttl_s(self) -> float:
        return self.settings.lease_ttl_s

    async def submit(
        self, task: Doc, annotator_id: str, lease_id: str, annotation: Annotation
    ) -> str:
        submit = Submit(task, annotator_id, lease_id, annotation, domain.submission_id())
        submission_id = await self._submits.submit(submit)
        self._held.pop(task["_id"], None)
        seconds = submit.seconds_worked(utcnow())
        self._count_worked(task["vendor_id"], annotator_id, seconds)
        self._handling.setdefault(task["project_id"], deque(maxlen=200)).append(seconds)
        return submission_id

    async def give_back(
        self, task: Doc, annotator_id: str, lease_id: str, skip: Doc | None = None
    ) -> None:
        done = await self.store.give_back(task, annotator_id, lease_id, skip)
        self._held.pop(task["_id"], None)
        lease = task.get("lease")
        if lease:
            self._count_worked(
                task["vendor_id"], annotator_id, (utcnow() - lease["started_at"]).total_seconds()
            )
        self.offer([done])

    # ----- estimates and limits ------------------------------------------------------------

    async def estimated_seconds(self, project_id: str) -> float | None:
        """The median handling time of the project's recent submissions."""
        if project_id not in self._handling:
            recent = await self.store.recent_handling_times(project_id)
            self._handling[project_id] = deque(reversed(recent), maxlen=200)
        return median(list(self._handling[project_id]))

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


WorkKey = tuple[str, str, str]  # vendor, annotator, UTC day


class WorkClock:
    """Time worked per annotator and day: counted here, added to the database every few
    seconds in one bulk write (not one write per submit), read back at most every
    `WORKED_TTL_S` to see what other replicas added. A crash loses at most the last flush
    interval of this counter; the tasks themselves keep their handling times."""

    def __init__(self, store: DispatchStore) -> None:
        self.store = store
        self._unflushed: dict[WorkKey, float] = defaultdict(float)
        self._read: dict[WorkKey, tuple[float, float]] = {}  # key -> (read at, seconds)
        self._lock = asyncio.Lock()

    def add(self, vendor_id: str, annotator_id: str, seconds: float) -> None:
        self._unflushed[(vendor_id, annotator_id, day_of(utcnow()))] += max(0.0, seconds)

    async def worked_today(self, vendor_id: str, annotator_id: str) -> float:
        key = (vendor_id, annotator_id, day_of(utcnow()))
        async with self._lock:  # a read never overlaps a flush: nothing is counted twice
            cached = self._read.get(key)
            if cached is None or time.monotonic() - cached[0] > WORKED_TTL_S:
                cached = (time.monotonic(), await self.store.worked_today(*key))
                self._read[key] = cached
        return cached[1] + self._unflushed.get(key, 0.0)

    async def flush(self) -> None:
        async with self._lock:
            batch = {k: v for k, v in self._unflushed.items() if v > 0}
            if not batch:
                return
            await self.store.add_worked(batch)
            for key, seconds in batch.items():
                self._unflushed[key] -= seconds
                if key in self._read:
                    read_at, value = self._read[key]
                    self._read[key] = (read_at, value + seconds)
            today = day_of(utcnow())
            for key in [k for k, v in self._unflushed.items() if v <= 0 or k[2] != today]:
                if self._unflushed[key] <= 0:
                    del self._unflushed[key]
