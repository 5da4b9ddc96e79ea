"""How much each annotator may work and has worked today, and how long a project's tasks take:
counted in memory, written in bulk, limits read through a short cache."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from services.dispatch.work_store import HANDLING_KEPT, WorkStore
from services.dispatch.worklimits import (
    Defaults,
    VendorLimits,
    day_of,
    median,
    seconds_to_next_day,
)
from shared.errors import AppError
from shared.settings import Settings
from shared.store.erasure import Tombstones
from shared.store.mongo import utcnow

# How long a read of what the other processes added counts as fresh.
WORKED_TTL_S = 5.0
# A pause this long between one task's end and the next one's start, the same day, is a
# break (the fair-work card counts them).
BREAK_GAP = timedelta(minutes=10)

WorkKey = tuple[str, str, str]  # vendor, annotator, UTC day


def is_break(ended: datetime, started: datetime) -> bool:
    """A pause of `BREAK_GAP` or more between a task's end and the next one's start, the
    same (UTC) day."""
    return day_of(ended) == day_of(started) and started - ended >= BREAK_GAP


class WorkClock:
    """Time worked per annotator and day: counted here, added to the database every few
    seconds in one write per vendor (not one write per submit), read back at most every
    `WORKED_TTL_S` to see what other replicas added. A crash loses at most the last flush
    interval of this counter. The projects' handling times ride along."""

    def __init__(
        self,
        store: WorkStore,
        settings: Settings,
        tombstones: Tombstones | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.now = now  # the wall clock; a test that crosses a day gives its own
        self.settings = settings
        self.tombstones = tombstones
        self.defaults = Defaults(settings.default_daily_hours, settings.intern_daily_hours)
        self._limits: dict[str, tuple[float, VendorLimits]] = {}
        self._recent: dict[str, deque[float]] = {}  # project -> latest handling times
        self._unflushed: dict[WorkKey, float] = defaultdict(float)
        self._read: dict[tuple[str, str], tuple[float, dict[str, float]]] = {}
        self._handled: dict[str, list[float]] = defaultdict(list)
        # Breaks: when each person's last task ended (this process's view: a person whose
        # tasks alternate between replicas has some breaks unseen), and those counted.
        self._last_end: dict[tuple[str, str], datetime] = {}
        self._breaks: dict[WorkKey, int] = defaultdict(int)
        self._lock = asyncio.Lock()

    def add(
        self,
        vendor_id: str,
        annotator_id: str,
        seconds: float,
        started_at: datetime | None = None,
    ) -> None:
        """Time worked on a task that just ended (`started_at`: when it was leased)."""
        now = self.now()
        day = day_of(now)
        self._unflushed[(vendor_id, annotator_id, day)] += max(0.0, seconds)
        last = self._last_end.get((vendor_id, annotator_id))
        if started_at is not None and last is not None and is_break(last, started_at):
            self._breaks[(vendor_id, annotator_id, day_of(started_at))] += 1
        self._last_end[(vendor_id, annotator_id)] = now

    def handled(self, project_id: str, seconds: float) -> None:
        self._handled[project_id].append(seconds)
        self._recent.setdefault(project_id, deque(maxlen=HANDLING_KEPT)).append(seconds)

    async def estimated_seconds(self, project_id: str) -> float | None:
        """The median handling time of the project's recent submissions."""
        if project_id not in self._recent:
            recent = await self.store.recent_handling_times(project_id)
            self._recent.setdefault(project_id, deque(recent, maxlen=HANDLING_KEPT))
        return median(list(self._recent[project_id]))

    async def limits_for(self, vendor_id: str) -> VendorLimits:
        cached = self._limits.get(vendor_id)
        if cached is None or time.monotonic() - cached[0] > self.settings.limits_cache_s:
            cached = (time.monotonic(), await self.store.vendor_limits(vendor_id))
            self._limits[vendor_id] = cached
        return cached[1]

    def forget_projects(self, project_ids: Iterable[str]) -> None:
        """Deleted projects: their handling times, counted or not yet written, go."""
        for project_id in project_ids:
            self._handled.pop(project_id, None)
            self._recent.pop(project_id, None)

    def forget_limits(self, vendor_id: str) -> None:
        self._limits.pop(vendor_id, None)

    async def daily_limit_s(self, vendor_id: str, annotator_id: str) -> float:
        limits = await self.limits_for(vendor_id)
        return limits.daily_hours(annotator_id, self.defaults) * 3600

    async def check_limit(self, vendor_id: str, annotator_id: str) -> None:
        """429 `daily_limit_reached` once the annotator's hours for the day are used up."""
        limit_s = await self.daily_limit_s(vendor_id, annotator_id)
        worked_s = await self.worked_today(vendor_id, annotator_id)
        if worked_s >= limit_s:
            raise AppError(
                "daily_limit_reached",
                f"today's work limit of {limit_s / 3600:g} h is reached; "
                "new tasks are offered again tomorrow (UTC)",
                status_code=429,
                details={"limit_s": limit_s, "worked_s": round(worked_s, 1)},
                headers={"Retry-After": str(seconds_to_next_day(self.now()))},
            )

    async def worked_today(self, vendor_id: str, annotator_id: str) -> float:
        day = day_of(self.now())
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
            if self.tombstones is not None:  # a project deleted meanwhile, by any process
                handled = {p: t for p, t in handled.items() if not self.tombstones.deleted(p)}
            if handled:
                try:
                    await self.store.add_handling_times(dict(handled))
                except Exception:
                    for project_id, times in handled.items():  # kept for the next flush
                        self._handled[project_id][:0] = times
                    raise
                # A deletion that committed while this write was on its way: undone.
                if self.tombstones is not None and (
                    gone := [p for p in handled if self.tombstones.deleted(p)]
                ):
                    await self.store.forget_handling_times(gone)
            batch = {k: v for k, v in self._unflushed.items() if v > 0}
            breaks, self._breaks = self._breaks, defaultdict(int)
            if not batch and not breaks:
                return
            try:
                await self.store.add_worked(batch, breaks)
            except Exception:
                for key, n in breaks.items():  # kept for the next flush
                    self._breaks[key] += n
                raise
            for (vendor_id, annotator_id, day), seconds in batch.items():
                self._unflushed[(vendor_id, annotator_id, day)] -= seconds
                if (read := self._read.get((vendor_id, day))) is not None:
                    read[1][annotator_id] = read[1].get(annotator_id, 0.0) + seconds
            today = day_of(self.now())
            for key in [k for k, v in self._unflushed.items() if v <= 0 or k[2] != today]:
                if self._unflushed[key] <= 0:
                    del self._unflushed[key]
