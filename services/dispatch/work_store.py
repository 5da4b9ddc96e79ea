"""Time worked, work limits and handling times in the database (`worktime`, `work_limits`,
`handling_times`): what `work.py` counts in memory and writes in bulk."""

from __future__ import annotations

from pymongo import UpdateOne

from services.dispatch.worklimits import VendorLimits
from shared.security.audit import AuditLog
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, utcnow

HANDLING_KEPT = 200  # recent handling times per project, for the estimate


class WorkStore:
    def __init__(self, db: ServiceDatabase, audit: AuditLog) -> None:
        self.db = db
        self.audit = audit
        self.worktime = db["worktime"]
        self.handling = db["handling_times"]
        self.limits = db["work_limits"]

    async def ensure_indexes(self) -> None:
        await self.limits.create_index([("vendor_id", 1), ("kind", 1), ("name", 1)], unique=True)

    async def recent_handling_times(self, project_id: str) -> list[float]:
        doc = await self.handling.find_one({"_id": project_id})
        return [float(s) for s in doc["seconds"]] if doc else []

    async def add_handling_times(self, seconds: dict[str, list[float]]) -> None:
        """Keep each project's latest handling times (two small writes per project). Each
        write also touches the project's record, so that it conflicts with the project's
        deletion (which removes both) instead of bringing the times back after it."""
        projects = self.db["projects"]

        async def work(session: AsyncClientSession) -> None:
            for project_id, values in seconds.items():
                fence = await projects.update_one(
                    {"_id": project_id}, {"$set": {"handled_at": utcnow()}}, session=session
                )
                if not fence.matched_count:
                    continue  # deleted (or not known here): nothing to keep
                await self.handling.update_one(
                    {"_id": project_id},
                    {"$push": {"seconds": {"$each": values, "$slice": -HANDLING_KEPT}}},
                    upsert=True,
                    session=session,
                )

        await self.db.transaction(work)

    async def forget_handling_times(self, project_ids: list[str]) -> None:
        await self.handling.delete_many({"_id": {"$in": project_ids}})

    async def worked_today(self, vendor_id: str, day: str) -> dict[str, float]:
        """Seconds worked per annotator of a vendor on a UTC day."""
        doc = await self.worktime.find_one({"_id": f"{vendor_id}|{day}"})
        return {_unfield(k): float(v) for k, v in (doc or {}).get("seconds", {}).items()}

    async def add_worked(
        self,
        seconds: dict[tuple[str, str, str], float],
        breaks: dict[tuple[str, str, str], int] | None = None,
    ) -> None:
        """Add time worked (and breaks taken) per (vendor, annotator, day), from every
        replica's counters: one write per vendor and day."""
        by_doc: dict[tuple[str, str], dict[str, float]] = {}
        for (vendor_id, annotator_id, day), worked in seconds.items():
            by_doc.setdefault((vendor_id, day), {})[f"seconds.{_field(annotator_id)}"] = worked
        for (vendor_id, annotator_id, day), n in (breaks or {}).items():
            by_doc.setdefault((vendor_id, day), {})[f"breaks.{_field(annotator_id)}"] = n
        await self.worktime.bulk_write(
            [
                UpdateOne(
                    {"_id": f"{vendor_id}|{day}"},
                    {"$inc": inc, "$set": {"vendor_id": vendor_id, "day": day}},
                    upsert=True,
                )
                for (vendor_id, day), inc in by_doc.items()
            ],
            ordered=False,
        )

    async def vendor_days(
        self, vendor_id: str, since_day: str
    ) -> list[tuple[str, dict[str, float], dict[str, int]]]:
        """Each day from `since_day` with the vendor's people's seconds worked and breaks
        taken, in order."""
        query = {"vendor_id": vendor_id, "day": {"$gte": since_day}}
        return [
            (
                d["day"],
                {_unfield(k): float(v) for k, v in d.get("seconds", {}).items()},
                {_unfield(k): int(v) for k, v in d.get("breaks", {}).items()},
            )
            async for d in self.worktime.find(query).sort("day", 1)
        ]

    async def days_of(self, vendor_id: str, annotator_id: str) -> list[Doc]:
        """One person's seconds worked, day by day (their own export)."""
        field = _field(annotator_id)
        days = self.worktime.find({"vendor_id": vendor_id}).sort("day", 1)
        return [
            {"day": d["day"], "seconds": float(d["seconds"][field])}
            async for d in days
            if field in d.get("seconds", {})
        ]

    async def limits_of(self, vendor_id: str, annotator_id: str) -> list[Doc]:
        """The limit set for one person, if any (their own export)."""
        query = {"vendor_id": vendor_id, "kind": "annotator", "name": annotator_id}
        return await self.limits.find(query, {"_id": 0}).to_list(None)

    async def vendor_limits(self, vendor_id: str) -> VendorLimits:
        limits = VendorLimits()
        async for doc in self.limits.find({"vendor_id": vendor_id}):
            if doc["kind"] == "group":
                limits.groups[doc["name"]] = float(doc["daily_hours"])
                continue
            if doc.get("group") is not None:
                limits.members[doc["name"]] = doc["group"]
            if doc.get("daily_hours") is not None:
                limits.annotators[doc["name"]] = float(doc["daily_hours"])
        return limits

    async def set_limit(self, vendor_id: str, kind: str, name: str, values: Doc) -> None:
        async def work(session: AsyncClientSession) -> None:
            await self.limits.update_one(
                {"vendor_id": vendor_id, "kind": kind, "name": name},
                {"$set": {**values, "updated_at": utcnow()}},
                upsert=True,
                session=session,
            )
            await self.audit.record(
                session, "work_limit.set", f"{vendor_id}/{kind}/{name}", details=values
            )

        await self.db.transaction(work)


def _field(name: str) -> str:
    """An annotator id as a field name (no dots, no leading dollar)."""
    return name.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def _unfield(name: str) -> str:
    return name.replace("%2E", ".").replace("%24", "$").replace("%25", "%")
