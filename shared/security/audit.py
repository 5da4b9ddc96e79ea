"""The audit log: who did what, kept by the service where it happened.

Each service writes its own entries (keys issued and revoked, projects changed, reviews
decided, deliveries downloaded...) into its own database, in the same transaction as the
change where there is one, and serves them at `GET /v1/audit`: the operator sees everything,
a client or vendor admin the entries that concern its own organisation. Entries never hold
secrets: a token is named by its id, never by its value.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from shared.observability import correlation_id
from shared.security.auth import PLATFORM_ORG, Principal, Role, current_principal, require_roles
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, utcnow


class AuditLog:
    """One service's audit entries."""

    def __init__(self, database: ServiceDatabase, service: str) -> None:
        self.collection = database["audit"]
        self.service = service

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("org_ids", 1), ("at", -1)])
        await self.collection.create_index([("at", -1)])

    def entry(
        self,
        action: str,
        target: str,
        *,
        orgs: Iterable[str] = (),
        details: dict[str, Any] | None = None,
        actor: Principal | None = None,
    ) -> Doc:
        actor = actor or current_principal.get()
        who = (
            {"sub": actor.sub, "org": actor.org, "role": actor.role.value}
            if actor is not None
            else {"sub": self.service, "org": PLATFORM_ORG, "role": "system"}
        )
        org_ids = sorted({o for o in (who["org"], *orgs) if o and o != PLATFORM_ORG})
        return {
            "_id": f"aud_{secrets.token_hex(10)}",
            "at": utcnow(),
            "service": self.service,
            "action": action,
            "target": target,
            "actor": who,
            "org_ids": org_ids,
            "details": details or {},
            "correlation_id": correlation_id.get(),
        }

    async def record(
        self,
        session: AsyncClientSession | None,
        action: str,
        target: str,
        *,
        orgs: Iterable[str] = (),
        details: dict[str, Any] | None = None,
        actor: Principal | None = None,
    ) -> None:
        """Write one entry, by `actor` or else the caller of the current request; with
        `session`, it commits or vanishes with the change it records."""
        doc = self.entry(action, target, orgs=orgs, details=details, actor=actor)
        await self.collection.insert_one(doc, session=session)

    async def oldest(self, before: datetime, limit: int) -> list[Doc]:
        """The oldest entries written before `before`, oldest first (to archive them)."""
        return await self.collection.find({"at": {"$lt": before}}).sort("at", 1).to_list(limit)

    async def forget(self, entry_ids: list[str]) -> None:
        """Delete entries (once archived)."""
        await self.collection.delete_many({"_id": {"$in": entry_ids}})

    async def by_actor(self, org_id: str, sub: str) -> list[Doc]:
        """What one person did, as this service recorded it (their own data to export)."""
        query = {"actor.org": org_id, "actor.sub": sub}
        return await self.collection.find(query).sort("at", 1).to_list(None)

    async def query(
        self, org_id: str | None, action: str | None, before: datetime | None, limit: int
    ) -> list[Doc]:
        criteria: dict[str, Any] = {}
        if org_id is not None:
            criteria["org_ids"] = org_id
        if action is not None:
            criteria["action"] = action
        if before is not None:
            criteria["at"] = {"$lt": before}
        return await self.collection.find(criteria).sort("at", -1).to_list(limit)


class AuditActor(BaseModel):
    sub: str
    org: str
    role: str


class AuditEntry(BaseModel):
    id: str
    at: datetime
    service: str
    action: str
    target: str
    actor: AuditActor
    org_ids: list[str]
    details: dict[str, Any]
    correlation_id: str | None = None


async def get_audit(request: Request) -> AuditLog:
    audit: AuditLog = request.app.state.runtime.audit
    return audit


AuditDep = Annotated[AuditLog, Depends(get_audit)]
Auditor = Annotated[Principal, require_roles(Role.OPERATOR, Role.CLIENT, Role.VENDOR_ADMIN)]


def audit_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["audit"])

    @router.get("/audit", response_model=list[AuditEntry])
    async def list_audit(
        principal: Auditor,
        audit: AuditDep,
        action: Annotated[str | None, Query(max_length=100)] = None,
        before: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[AuditEntry]:
        """Newest first; page with `before` = the `at` of the last entry seen."""
        org = None if principal.role == Role.OPERATOR else principal.org
        docs = await audit.query(org, action, before, limit)
        return [AuditEntry(id=d.pop("_id"), **d) for d in docs]

    return router
