"""The review desk: hands out review units and appeals from in-memory queues.

Fed by this process's own events (new submissions and disputes, appeals, expired review
leases) and by an indexed read of what was queued since the last read, so units queued by
other replicas are handed out too; a full re-read now and then forgets what others took.
A `next` may wait (long-poll) for a unit: news in the queues wakes it, and a miss reads what
other replicas queued at most once a second. What it handed out is kept with the reviewer,
so deciding on it and asking again read as little as they can.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from services.review.queue import ReviewQueue
from services.review.repositories import AppealRepository, UnitRepository
from shared.store.mongo import Doc, utcnow
from shared.web.longpoll import Waiters

CLAIM_ATTEMPTS = 5
SYNC_OVERLAP = timedelta(seconds=5)
# A waiting `next` that finds nothing reads what other replicas queued at most this often.
MISS_SYNC_S = 1.0
# A reviewer who has just decided here holds nothing, unless another replica handed them a
# unit meanwhile: the first `next` within this long after the decision trusts that and skips
# the lookup (two reads of the database on every review otherwise). A later `next` (a page
# reload, say) looks again.
DECIDED_TRUST_S = 5.0


class Desk:
    def __init__(self, units: UnitRepository, appeals: AppealRepository) -> None:
        self.units = units
        self.appeals = appeals
        self.review_queue = ReviewQueue()
        self.appeal_queue = ReviewQueue()
        self._read_since: datetime | None = None
        self._lock = asyncio.Lock()
        # (vendor, reviewer) -> the unit last handed (or being handed) to them, not yet decided.
        # A claim whose answer was lost (a dropped connection, the database restarting
        # mid-call) goes to the same reviewer again instead of waiting out its lease.
        self._open: dict[tuple[str, str], str] = {}
        # The unit as claimed, once the claim answered: the decision reads no unit again.
        self._handed: dict[tuple[str, str], Doc] = {}
        self._decided_at: dict[tuple[str, str], float] = {}
        # Units this process's intake queued, whole, by id: taken with no read. Kept apart
        # from the queue's entries, which the next read of the queue (it overlaps the last
        # by `SYNC_OVERLAP`) replaces with their queue fields alone.
        self._whole: dict[str, Doc] = {}
        self.waiters = Waiters()
        self._synced_at = 0.0

    def queued_here(self, docs: Sequence[Doc]) -> None:
        """Units this process's intake committed (whole documents, as written)."""
        self._whole.update((doc["_id"], doc) for doc in docs if doc.get("status") == "pending")
        self.offer(docs)

    def offer(self, docs: Iterable[Doc]) -> None:
        added = False
        for doc in docs:
            if doc.get("status") == "pending" and "queued_at" in doc:
                self.review_queue.add(doc)
                added = True
            else:
                self.review_queue.remove(doc["_id"])
                self._whole.pop(doc["_id"], None)
            appeal = doc.get("appeal") or {}
            if appeal.get("status") == "open":
                self.appeal_queue.add({**doc, "queued_at": appeal["at"]})
                added = True
            else:
                self.appeal_queue.remove(doc["_id"])
        if added:
            self.waiters.wake()

    async def refresh(self, unit_ids: Sequence[str]) -> None:
        self.offer(await self.units.load(unit_ids))

    async def sync(self, full: bool = False) -> None:
        async with self._lock:
            started = utcnow()
            if full or self._read_since is None:
                self.review_queue.replace_all(await self.units.queued())
                self.appeal_queue.replace_all(await self.appeals.queued())
                # Those others took meanwhile are forgotten.
                self._whole = {k: d for k, d in self._whole.items() if k in self.review_queue}
            else:
                for doc in await self.units.queued(self._read_since):
                    self.review_queue.add(doc)
                for doc in await self.appeals.queued(self._read_since):
                    self.appeal_queue.add(doc)
            self._read_since = started - SYNC_OVERLAP
            self._synced_at = time.monotonic()
        self.waiters.wake()

    async def full_sync(self) -> None:
        await self.sync(full=True)

    async def expire(self) -> int:
        freed = await self.units.requeue_expired()
        self.offer(freed)
        return len(freed)

    async def _sync_after_miss(self) -> None:
        if time.monotonic() - self._synced_at >= MISS_SYNC_S and not self._lock.locked():
            await self.sync()  # wakes the waiters: their next attempt sees what it read

    async def next_review(self, vendor_id: str, reviewer_id: str, wait_s: float = 0) -> Doc | None:
        """The unit this reviewer holds undecided, else the oldest unit of the vendor, waiting
        up to `wait_s` for one to be queued."""
        held = await self._still_open((vendor_id, reviewer_id))
        if held is not None:
            return held  # looked up once per call: the waiting below only claims
        return await self.waiters.poll(
            lambda: self._claim_review(vendor_id, reviewer_id), wait_s, self._sync_after_miss
        )

    async def _claim_review(self, vendor_id: str, reviewer_id: str) -> Doc | None:
        key = (vendor_id, reviewer_id)
        for _ in range(CLAIM_ATTEMPTS):
            entry = self.review_queue.take(vendor_id)
            if entry is None:
                return None
            self._open[key] = entry["_id"]
            unit = await self.units.claim(
                entry["_id"], reviewer_id, self._whole.pop(entry["_id"], None)
            )
            if unit is not None:
                self._handed[key] = unit
                return unit
        self._open.pop(key, None)
        return None

    async def unit(self, vendor_id: str, reviewer_id: str, unit_id: str) -> Doc:
        """The unit a reviewer decides on: as handed to them, if this process handed it (the
        decision's write checks they still hold it), else as stored (404 for another vendor)."""
        handed = self._handed.get((vendor_id, reviewer_id))
        if handed is not None and handed["_id"] == unit_id:
            return handed
        return await self.units.get(vendor_id, unit_id)

    def decided(self, vendor_id: str, reviewer_id: str) -> None:
        key = (vendor_id, reviewer_id)
        self._open.pop(key, None)
        self._handed.pop(key, None)
        self._decided_at[key] = time.monotonic()

    async def _still_open(self, key: tuple[str, str]) -> Doc | None:
        """The unit this reviewer holds and has not decided. This process remembers what it
        handed out; what another process (or this one before a restart) handed out is in the
        database, looked up through the reviewer's index."""
        decided_at = self._decided_at.pop(key, None)
        unit_id = self._open.get(key)
        if unit_id is not None:
            unit = await self.units.held_by(unit_id, key[1])
        elif decided_at is not None and time.monotonic() - decided_at < DECIDED_TRUST_S:
            return None
        else:
            unit = await self.units.held_by_reviewer(*key)
        if unit is None:
            self._open.pop(key, None)
            self._handed.pop(key, None)
        else:
            self._open[key], self._handed[key] = unit["_id"], unit
        return unit

    async def next_appeal(self, vendor_id: str, reviewer_id: str, wait_s: float = 0) -> Doc | None:
        """An open appeal of this vendor that this reviewer did not reject themselves, waiting
        up to `wait_s` for one."""
        return await self.waiters.poll(
            lambda: self._next_appeal_now(vendor_id, reviewer_id), wait_s, self._sync_after_miss
        )

    async def _next_appeal_now(self, vendor_id: str, reviewer_id: str) -> Doc | None:
        def not_theirs(doc: Doc) -> bool:
            return bool(doc["appeal"]["rejected_by"] != reviewer_id)

        for _ in range(CLAIM_ATTEMPTS):
            entry = self.appeal_queue.take(vendor_id, not_theirs)
            if entry is None:
                return None
            sub = await self.appeals.claim(entry["_id"], reviewer_id)
            if sub is not None:
                return sub
        return None
