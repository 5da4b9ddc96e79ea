"""Time worked per annotator and day, and the projects' handling times, counted in memory and
written in bulk."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from services.dispatch.store import DispatchStore
from services.dispatch.worklimits import day_of
from shared.store.mongo import utcnow

# How long a read of what the other processes added counts as fresh.
WORKED_TTL_S = 5.0

WorkKey = tuple[str, str, str]  # vendor, annotator, UTC day


class WorkClock:
    """Time worked per annotator and day: counted here, added to the database every few
    seconds in one write per vendor (not one write per submit), read back at most every
    `WORKED_TTL_S` to see what other replicas added. A crash loses at most the last flush
    interval of this counter. The projects' handling times ride along."""

    def __init__(self, store: DispatchStore) -> None:
        self.store = store
        self._unflushed: dict[WorkKey, float] = defaultdict(float)
        self._read: dict[tuple[str, str], tuple[float, dict[str, float]]] = {}
        self._handled: dict[str, list[float]] = defaultdict(list)
        self._lock = asyncio.Lock()

    def add(self, vendor_id: str, annotator_id: str, seconds: float) -> None:
        self._unflushed[(vendor_id, annotator_id, day_of(utcnow()))] += max(0.0, seconds)

    def handled(self, project_id: str, seconds: float) -> None:
        self._handled[project_id].append(seconds)

    async def worked_today(self, vendor_id: str, annotator_id: str) -> float:
        day = day_of(utcnow())
        async with self._lock:  # a read never overlaps a flush: nothing is counted twice
            cached = self._read.get((vendor_id, day))
            if cached is None or time.monotonic() - cached[0] > WORKED_TTL_S:
                cached = (time.monotonic(), await self.store.worked_today(vendor_id, day))
                self._read[(vendor_id, day)] = cached
        return cached[1].get(annotator_id, 0.0) + self._unflushed.get(
            (vendor_id, annotator_id, day), 0.0
        )

    async def flush(self) -> None:
        async with self._lock:
            handled, self._handled = self._handled, defaultdict(list)
            if handled:
                try:
                    await self.store.add_handling_times(dict(handled))
                except Exception:
                    for project_id, times in handled.items():  # kept for the next flush
                        self._handled[project_id][:0] = times
                    raise
            batch = {k: v for k, v in self._unflushed.items() if v > 0}
            if not batch:
                return
            await self.store.add_worked(batch)
            for (vendor_id, annotator_id, day), seconds in batch.items():
                self._unflushed[(vendor_id, annotator_id, day)] -= seconds
                if (read := self._read.get((vendor_id, day))) is not None:
                    read[1][annotator_id] = read[1].get(annotator_id, 0.0) + seconds
            today = day_of(utcnow())
            for key in [k for k, v in self._unflushed.items() if v <= 0 or k[2] != today]:
                if self._unflushed[key] <= 0:
                    del self._unflushed[key]
