"""The dispatcher: which task an annotator gets next, and what each worker call does.

`next` picks from this process's in-memory pool (`pool.py`) and leases the pick through
`Leases` (one insert many requests share). The pool is fed by this process's own events (new
tasks, rework, releases, freed leases), and every `pool_sync_s` (or sooner when an annotator
finds it empty) by an indexed read of the tasks that became pending since the last read. Two
processes offering the same task is harmless: one lease wins, the loser takes the next task.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from services.dispatch import domain
from services.dispatch.leases import LeasedTask, Leases
from services.dispatch.pool import Admits, SeenStates, TaskPool, admit_everyone
from services.dispatch.replicas import Replicas
from services.dispatch.store import TaskStore
from services.dispatch.work import WorkClock
from shared.domain.tracks import clip_unit
from shared.events import Annotation, ItemIngested, TrackAnnotation, Transcript
from shared.settings import Settings
from shared.store.mongo import Doc, utcnow
from shared.web.longpoll import Waiters

# A miss reads what became pending at most this often (per process).
MISS_SYNC_S = 1.0
# Reads overlap by this much, so a write committed late (or a clock a little behind) is seen.
SYNC_OVERLAP = timedelta(seconds=2)
MAX_OVERLAP = 10  # copies of an item, at most (a project's overlap)
# Tasks created by this process, kept until offered (in case the offer never comes).
CREATED_KEPT = 10_000
# Task states remembered as seen, so a pool read skips them (one forgotten is read again).
SEEN_KEPT = 200_000


def units_of(event: ItemIngested) -> list[str]:
    """What an item's tasks are made per: the item, each clip of a video, or each part of a
    recording."""
    if event.video is not None:
        return [clip_unit(event.item_id, index) for index in range(len(event.video.clips))]
    if event.audio is not None:
        return [clip_unit(event.item_id, index) for index in range(len(event.audio.parts))]
    return [event.item_id]


class Dispatcher:
    def __init__(
        self,
        tasks: TaskStore,
        leases: Leases,
        work: WorkClock,
        replicas: Replicas,
        settings: Settings,
        admits: Admits = admit_everyone,
    ) -> None:
        self.tasks = tasks
        self.leases = leases
        self.work = work
        self.replicas = replicas
        self.settings = settings
        self.pool = TaskPool(admits)
        self.waiters = Waiters()
        self._sync_lock = asyncio.Lock()
        self._synced_at = 0.0
        self._read_since: datetime | None = None
        self._offered_during_sync: list[Doc] | None = None
        self._created: dict[str, list[Doc]] = {}
        self._seen = SeenStates(SEEN_KEPT)

    # ----- feeding the pool ----------------------------------------------------------------

    def offer(self, docs: Iterable[Doc]) -> None:
        """Tasks that may be pending now; anything else is dropped from the pool."""
        added = False
        for doc in docs:
            self._seen.note(doc)
            if self._offered_during_sync is not None:
                self._offered_during_sync.append(doc)
            if doc["status"] != "pending":
                self.pool.remove(doc["_id"])
            elif not self.leases.holds(doc["_id"]):
                self.pool.add(doc)
                added = True
        if added:
            self.waiters.wake()

    async def refresh(self, task_ids: Iterable[str]) -> None:
        self.offer(await self.tasks.load_tasks(list(task_ids)))

    def remember_created(self, tasks: Sequence[Doc]) -> None:
        """Tasks this process's consumer is writing: offered as written once committed, under
        the item that brought them (a gold task carries its gold item's id)."""
        for task in tasks:
            self._created.setdefault(task.get("from_item") or task["item_id"], []).append(task)
        while len(self._created) > CREATED_KEPT:
            self._created.pop(next(iter(self._created)))

    async def offer_created(self, events: Iterable[ItemIngested]) -> None:
        """Offer the new items' tasks: as remembered, or read back by their ids (written by
        another process, or before a restart)."""
        missing: list[str] = []
        for event in events:
            tasks = self._created.pop(event.item_id, None)
            if tasks is None:
                missing.extend(units_of(event))
            else:
                self.offer({t["_id"]: t for t in tasks}.values())  # the last write of each
        if missing:
            await self.refresh(
                task_id
                for unit in missing
                for task_id in (
                    *(domain.task_id(unit, slot) for slot in range(MAX_OVERLAP)),
                    domain.gold_task_id(unit),
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
                    pending = await self.tasks.load_pending()
                finally:
                    # What was offered while reading may be newer than what was read.
                    offered, self._offered_during_sync = self._offered_during_sync, None
                self._seen.note_all(pending)
                self.pool.replace_all([d for d in pending if not self.leases.holds(d["_id"])])
                self.offer(offered)
                self.waiters.wake()
            else:
                self.offer(await self.tasks.load_changed(self._read_since, self._seen_as_is))
            self._read_since = started - SYNC_OVERLAP
            self._synced_at = time.monotonic()

    def _seen_as_is(self, stamp: Doc) -> bool:
        return self.leases.holds(stamp["_id"]) or self._seen.saw(stamp)

    async def full_sync(self) -> None:
        await self.sync(full=True)

    async def _sync_after_miss(self) -> None:
        if time.monotonic() - self._synced_at >= MISS_SYNC_S and not self._sync_lock.locked():
            await self.sync()

    async def beat(self) -> None:
        """Say this process is alive and what it holds; learn its share of the pending tasks."""
        self.pool.share = await self.replicas.beat(len(self.leases), self.leases.holders())

    async def sweep(self) -> int:
        """Free abandoned leases (the first live process sweeps for all); offer their tasks."""
        now = utcnow()
        self.leases.forget_expired(now)
        if self.pool.share.index != 0:
            return 0
        freed = await self.leases.sweep(now)
        self.offer(freed)
        return len(freed)

    # ----- the worker's calls --------------------------------------------------------------

    async def lease(self, vendor_id: str, annotator_id: str, wait_s: float) -> LeasedTask | None:
        """The best task for this annotator, waiting up to `wait_s` for one to appear."""
        await self.work.check_limit(vendor_id, annotator_id)
        # A miss reads what became pending (rate-limited); news it finds ends the wait at once.
        return await self.waiters.poll(
            lambda: self._try_lease(vendor_id, annotator_id), wait_s, self._sync_after_miss
        )

    async def _try_lease(self, vendor_id: str, annotator_id: str) -> LeasedTask | None:
        for _ in range(self.settings.lease_attempts):
            now = utcnow()
            steal_after = now - timedelta(seconds=self.settings.backlog_takeover_s)
            pick = self.pool.take(vendor_id, annotator_id, now, steal_after)
            if pick is None:
                return None
            # Block the item's other copies for this annotator before the lease is written,
            # so a concurrent `next` of the same person cannot take a sibling.
            self.pool.block(pick.entry.copy_key, annotator_id)
            leased = await self.leases.take(pick.entry.doc, annotator_id, pick.vendor_id, now)
            if leased is not None:
                return leased
        return None

    async def submit(
        self,
        held: LeasedTask,
        annotation: Annotation,
        tracks: TrackAnnotation | None = None,
        transcript: Transcript | None = None,
    ) -> str:
        submission_id, seconds = await self.leases.submit(held, annotation, tracks, transcript)
        self.work.add(held.lease.vendor_id, held.lease.annotator_id, seconds, held.lease.started_at)
        self.work.handled(held.task["project_id"], seconds)
        return submission_id

    async def give_back(self, held: LeasedTask, skip: Doc | None = None) -> None:
        """Release (skip=None) or skip: the task returns to the pool, or to an operator."""
        task, seconds = await self.leases.give_back(held, skip)
        self.work.add(held.lease.vendor_id, held.lease.annotator_id, seconds, held.lease.started_at)
        self.offer([task])
