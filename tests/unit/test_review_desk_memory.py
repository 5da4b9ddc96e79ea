"""What the review desk remembers of the units it hands out (the database replaced by a
recorder, pure logic): the decision reads no unit it handed out, and the first `next` right
after a decision here skips the lookup of what the reviewer holds, while a later one, or one
long after, looks again."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import pytest

from services.review import desk as desk_module
from services.review.desk import Desk
from services.review.repositories import AppealRepository, UnitRepository
from shared.store.mongo import Doc, utcnow

VENDOR = "ven_a"


class RecordedUnits:
    """The unit repository's calls the desk makes, counted; `held` is what the database
    says the reviewer holds."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.held: Doc | None = None

    async def claim(self, unit_id: str, reviewer_id: str, whole: Doc | None = None) -> Doc | None:
        self.calls.append(f"claim {unit_id}")
        return {"_id": unit_id, "vendor_id": VENDOR, "status": "in_review", "claimed": True}

    async def held_by(self, unit_id: str, reviewer_id: str) -> Doc | None:
        self.calls.append(f"held_by {unit_id}")
        return self.held

    async def held_by_reviewer(self, vendor_id: str, reviewer_id: str) -> Doc | None:
        self.calls.append("held_by_reviewer")
        return self.held

    async def get(self, vendor_id: str, unit_id: str) -> Doc:
        self.calls.append(f"get {unit_id}")
        return {"_id": unit_id, "vendor_id": vendor_id, "from": "database"}

    async def queued(self, since: datetime | None = None) -> list[Doc]:
        return []


def unit(unit_id: str) -> Doc:
    return {"_id": unit_id, "vendor_id": VENDOR, "status": "pending", "queued_at": utcnow()}


def desk_over(units: RecordedUnits) -> Desk:
    return Desk(cast(UnitRepository, units), cast(AppealRepository, units))


async def test_the_decision_reads_no_unit_this_process_handed_out() -> None:
    units = RecordedUnits()
    desk = desk_over(units)
    desk.offer([unit("sub_1")])
    handed = await desk.next_review(VENDOR, "rev_1")
    assert handed is not None
    assert await desk.unit(VENDOR, "rev_1", "sub_1") is handed
    # Another reviewer, or another unit id, is read from the database.
    assert (await desk.unit(VENDOR, "rev_2", "sub_1"))["from"] == "database"
    assert (await desk.unit(VENDOR, "rev_1", "sub_9"))["from"] == "database"
    assert units.calls == ["held_by_reviewer", "claim sub_1", "get sub_1", "get sub_9"]


async def test_after_a_decision_here_the_next_call_skips_the_lookup_once() -> None:
    units = RecordedUnits()
    desk = desk_over(units)
    desk.offer([unit("sub_1"), unit("sub_2")])
    assert await desk.next_review(VENDOR, "rev_1") is not None
    desk.decided(VENDOR, "rev_1")
    units.calls.clear()
    second = await desk.next_review(VENDOR, "rev_1")
    assert second is not None and second["_id"] == "sub_2"
    assert units.calls == ["claim sub_2"]  # no lookup of what they hold
    desk.decided(VENDOR, "rev_1")
    assert (await desk.unit(VENDOR, "rev_1", "sub_2"))["from"] == "database"  # forgotten
    units.calls.clear()
    assert await desk.next_review(VENDOR, "rev_1") is None  # nothing queued
    assert await desk.next_review(VENDOR, "rev_1") is None  # a reload: looked up again
    assert units.calls == ["held_by_reviewer"]


async def test_a_decision_long_ago_is_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    units = RecordedUnits()
    desk = desk_over(units)
    desk.offer([unit("sub_1")])
    assert await desk.next_review(VENDOR, "rev_1") is not None
    monkeypatch.setattr(desk_module, "DECIDED_TRUST_S", 0.0)
    desk.decided(VENDOR, "rev_1")
    units.held = {"_id": "sub_7", "vendor_id": VENDOR, "status": "in_review"}
    units.calls.clear()
    got = await desk.next_review(VENDOR, "rev_1")
    assert got is not None and got["_id"] == "sub_7"  # handed by another replica meanwhile
    assert units.calls == ["held_by_reviewer"]
    assert await desk.unit(VENDOR, "rev_1", "sub_7") is units.held  # remembered
    units.calls.clear()
    assert await desk.next_review(VENDOR, "rev_1") is units.held  # asked again: the same
    assert units.calls == ["held_by sub_7"]
