"""The review desk's long-poll, with the database replaced by a list (pure waiting logic):
a unit queued by this process wakes a waiting `next` at once; one queued by another replica
is found by the read a miss makes; with nothing queued the call returns None after its wait."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any, cast

from services.review.desk import Desk
from services.review.repositories import AppealRepository, UnitRepository
from shared.store.mongo import Doc, utcnow

VENDOR = "ven_a"


class QueuedUnits:
    """The part of the unit repository the desk reads and claims through; `queued` is what
    another replica would have written."""

    def __init__(self) -> None:
        self.queued_units: list[Doc] = []
        self.reads = 0

    async def queued(self, since: datetime | None = None) -> list[Doc]:
        self.reads += 1
        return [d for d in self.queued_units if since is None or d["queued_at"] >= since]

    async def claim(self, unit_id: str, reviewer_id: str, whole: Doc | None = None) -> Doc | None:
        return {"_id": unit_id, "reviewer": reviewer_id}

    async def held_by(self, unit_id: str, reviewer_id: str) -> Doc | None:
        return None

    async def held_by_reviewer(self, vendor_id: str, reviewer_id: str) -> Doc | None:
        return None


class NoAppeals:
    """The appeal repository the desk reads: no appeals anywhere."""

    async def queued(self, since: datetime | None = None) -> list[Doc]:
        return []


def unit(unit_id: str) -> Doc:
    return {"_id": unit_id, "vendor_id": VENDOR, "status": "pending", "queued_at": utcnow()}


def desk_over(units: QueuedUnits) -> Desk:
    return Desk(cast(UnitRepository, units), cast(AppealRepository, NoAppeals()))


async def test_a_unit_offered_while_waiting_is_handed_out_at_once() -> None:
    desk = desk_over(QueuedUnits())
    await desk.sync(full=True)
    waiting = asyncio.create_task(desk.next_review(VENDOR, "rev_1", wait_s=10))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    started = time.monotonic()
    desk.offer([unit("sub_1")])
    got: Any = await asyncio.wait_for(waiting, 2)
    assert got["_id"] == "sub_1"
    assert time.monotonic() - started < 0.5


async def test_a_unit_another_replica_queued_is_found_by_the_read_after_a_miss() -> None:
    units = QueuedUnits()
    desk = desk_over(units)
    await desk.sync(full=True)
    waiting = asyncio.create_task(desk.next_review(VENDOR, "rev_1", wait_s=10))
    await asyncio.sleep(0.1)
    units.queued_units.append(unit("sub_2"))  # not offered to this process
    got: Any = await asyncio.wait_for(waiting, 5)
    assert got["_id"] == "sub_2"


async def test_nothing_queued_returns_none_after_the_wait_reading_at_most_once_a_second() -> None:
    units = QueuedUnits()
    desk = desk_over(units)
    await desk.sync(full=True)
    reads_before = units.reads
    started = time.monotonic()
    assert await desk.next_review(VENDOR, "rev_1", wait_s=2.5) is None
    assert 2.4 <= time.monotonic() - started < 4
    assert 1 <= units.reads - reads_before <= 3
    assert await desk.next_review(VENDOR, "rev_1") is None  # no wait: at once
