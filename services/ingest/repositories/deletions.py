"""Deletions (`deletions`): each request, the targets it marks as going, the report of each
service as it arrives, and the certificate once every service has reported. A deletion's
record outlives what it deleted: it is the proof (docs/privacy.md)."""

from __future__ import annotations

from datetime import datetime

from services.ingest.domain import new_id
from shared.errors import NotFound
from shared.events import EVERYTHING, DeletionApplied, DeletionPart, DeletionScope
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, utcnow

# Where each scope's target lives, and the wider records a deletion marks as going with it.
TARGETS: dict[DeletionScope, str] = {
    "item": "items",
    "batch": "batches",
    "project": "projects",
    "org": "orgs",
}


class DeletionRepository:
    def __init__(self, db: ServiceDatabase) -> None:
        self.db = db
        self.deletions = db["deletions"]

    async def ensure_indexes(self) -> None:
        await self.deletions.create_index([("target_id", 1)])
        await self.deletions.create_index([("org_id", 1), ("requested_at", -1)])

    async def of_target(
        self, target_id: str, parts: tuple[DeletionPart, ...] = EVERYTHING
    ) -> Doc | None:
        """The deletion of `target_id` of those parts (a whole one: also one recorded before
        deletions had parts)."""
        if "records" in parts:
            whole = [{"parts": {"$exists": False}}, {"parts": "records"}]
            return await self.deletions.find_one({"target_id": target_id, "$or": whole})
        return await self.deletions.find_one({"target_id": target_id, "parts": list(parts)})

    async def get(self, org_id: str | None, deletion_id: str) -> Doc:
        doc = await self.deletions.find_one({"_id": deletion_id})
        if doc is None or (org_id is not None and doc["org_id"] != org_id):
            raise NotFound("deletion")
        return doc

    async def of_org(self, org_id: str | None, limit: int) -> list[Doc]:
        query = {} if org_id is None else {"org_id": org_id}
        cursor = self.deletions.find(query).sort("requested_at", -1).limit(limit)
        return await cursor.to_list(limit)

    async def batches_of(self, project_ids: list[str]) -> list[str]:
        docs = self.db["batches"].find({"project_id": {"$in": project_ids}}, {"_id": 1})
        return [d["_id"] async for d in docs]

    async def projects_of(self, org_id: str) -> list[str]:
        return [d["_id"] async for d in self.db["projects"].find({"org_id": org_id}, {"_id": 1})]

    async def projects_keeping_for_a_while(self) -> list[Doc]:
        """Projects with a retention after delivery (`privacy.retention`), not being deleted."""
        periods = [
            {f"privacy.retention.{name}": {"$ne": None}}
            for name in (
                "days_after_delivery",
                "media_days_after_delivery",
                "packages_days_after_delivery",
            )
        ]
        query = {"$or": periods, "deleting": None}
        fields = {"org_id": 1, "privacy": 1}
        return await self.db["projects"].find(query, fields).to_list(None)

    async def delivered_before(self, project_id: str, before: datetime) -> list[Doc]:
        """The project's batches fully delivered before `before`, not being deleted."""
        query = {
            "project_id": project_id,
            "delivered_at": {"$lte": before},
            "deleting": None,
        }
        return await self.db["batches"].find(query).to_list(None)

    async def create(
        self, session: AsyncClientSession, record: Doc, marks: dict[str, list[str]]
    ) -> None:
        """The deletion's record, and every target it reaches marked as going (`deleting`):
        reads answer 404 and nothing more is added to them from now on."""
        await self.deletions.insert_one(record, session=session)
        for collection, ids in marks.items():
            if ids:
                await self.db[collection].update_many(
                    {"_id": {"$in": ids}}, {"$set": {"deleting": record["_id"]}}, session=session
                )

    async def record_applied(self, session: AsyncClientSession, event: DeletionApplied) -> Doc:
        """A service's report kept (the same report again changes nothing); the record."""
        report = {
            "records": event.records,
            "objects": event.objects,
            "objects_sha256": event.objects_sha256,
            "content_sha256": list(event.content_sha256),
            "applied_at": event.applied_at,
        }
        await self.deletions.update_one(
            {"_id": event.deletion_id},
            {"$set": {f"services.{event.service}": report}},
            session=session,
        )
        doc = await self.deletions.find_one({"_id": event.deletion_id}, session=session)
        if doc is None:
            raise NotFound("deletion")
        return doc

    async def complete(
        self, session: AsyncClientSession, deletion_id: str, certificate: Doc
    ) -> None:
        await self.deletions.update_one(
            {"_id": deletion_id, "status": "pending"},
            {"$set": {"status": "complete", "completed_at": utcnow(), "certificate": certificate}},
            session=session,
        )


def new_deletion_id() -> str:
    return new_id("del")
