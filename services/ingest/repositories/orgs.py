"""Organisations: clients (who own projects) and vendors (whose people label and review)."""

from __future__ import annotations

from collections.abc import Collection

from services.ingest.domain import new_id
from shared.errors import NotFound
from shared.security.audit import AuditLog
from shared.security.auth import Principal
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, utcnow


class OrgRepository:
    def __init__(self, db: ServiceDatabase, audit: AuditLog) -> None:
        self.db = db
        self.audit = audit
        self.orgs = db["orgs"]

    async def create(self, name: str, kind: str, actor: Principal) -> Doc:
        org_id = new_id("org")
        doc = {"_id": org_id, "name": name, "kind": kind, "created_at": utcnow()}

        async def work(session: AsyncClientSession) -> None:
            await self.orgs.insert_one(doc, session=session)
            await self.audit.record(
                session, "org.created", org_id, orgs=[org_id], details={"kind": kind}, actor=actor
            )

        await self.db.transaction(work)
        return doc

    async def all(self) -> list[Doc]:
        return await self.orgs.find({"deleting": None}).to_list(10_000)

    async def vendors(self) -> list[Doc]:
        """Every vendor's id and name: what a client chooses its projects' vendors from."""
        return (
            await self.orgs.find({"kind": "vendor", "deleting": None}, {"name": 1})
            .sort("name", 1)
            .to_list(10_000)
        )

    async def get(self, org_id: str) -> Doc:
        doc = await self.orgs.find_one({"_id": org_id})
        if doc is None or doc.get("deleting"):
            raise NotFound("organisation")
        return doc

    async def names(self, org_ids: Collection[str]) -> dict[str, str]:
        """The names of these organisations (those that exist)."""
        query = {"_id": {"$in": list(org_ids)}}
        return {d["_id"]: d["name"] async for d in self.orgs.find(query, {"name": 1})}

    async def vendor_names(self, org_ids: Collection[str]) -> dict[str, str] | None:
        """The names of these vendors, or None when one of them is not a registered vendor."""
        query = {"_id": {"$in": list(org_ids)}, "kind": "vendor"}
        names = {d["_id"]: d["name"] async for d in self.orgs.find(query, {"name": 1})}
        return names if len(names) == len(set(org_ids)) else None
