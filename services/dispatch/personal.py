"""What dispatch keeps about one person, for their own export (shared/security/personal_data.py):
time worked per day, their work limit, every lease and the record that ended it (submitted
annotations included), the items they had a copy of, and their skips with the reasons."""

from __future__ import annotations

from services.dispatch.deps import DispatchParts
from shared.security.personal_data import Collector
from shared.store.mongo import Doc


def collector(parts: DispatchParts) -> Collector:
    async def collect(vendor_id: str, subject: str) -> dict[str, list[Doc]]:
        slots = parts.leases.slots
        records = await slots.records_of(vendor_id, subject)
        # A mark names the person only; its lease says whose vendor they were with.
        leases = {r["_id"] for r in records}
        return {
            "work_days": await parts.work_store.days_of(vendor_id, subject),
            "work_limits": await parts.work_store.limits_of(vendor_id, subject),
            "slot_records": records,
            "item_marks": [m for m in await slots.marks_of(subject) if m["lease"] in leases],
            "skips": await parts.flagged.skips_of(vendor_id, subject),
        }

    return collect
