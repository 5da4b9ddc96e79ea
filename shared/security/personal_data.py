"""A person's own data: `GET /v1/me/data` on every service answers an annotator or a reviewer
with everything that service keeps about them, as stored (docs/privacy.md). Each service gives
its collector to `create_app` (queries in its repositories); the SDK, `aviary me export` and
the labeling page put the services' answers into one JSON file. Every export is audited."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter

from aviary.contracts.personal import PersonalData
from shared.security.audit import AuditDep
from shared.security.auth import Principal, Role, require_roles
from shared.store.mongo import Doc, utcnow

# What a service keeps about one person (vendor, subject), by kind of record.
Collector = Callable[[str, str], Awaitable[dict[str, list[Doc]]]]
Person = Annotated[Principal, require_roles(Role.ANNOTATOR, Role.REVIEWER)]


async def keeps_nothing(org_id: str, subject: str) -> dict[str, list[Doc]]:
    """A service that keeps nothing about people beyond its audit log (assist)."""
    return {}


def personal_data_router(service: str, collect: Collector) -> APIRouter:
    router = APIRouter(prefix="/v1/me", tags=["personal data"])

    @router.get("/data", response_model=PersonalData)
    async def my_data(principal: Person, audit: AuditDep) -> PersonalData:
        """Everything this service keeps about the caller, as stored."""
        records = await collect(principal.org, principal.sub)
        records["audit"] = await audit.by_actor(principal.org, principal.sub)
        counts = {kind: len(docs) for kind, docs in records.items()}
        await audit.record(None, "personal_data.exported", principal.sub, details=counts)
        return PersonalData(
            service=service,
            subject=principal.sub,
            org_id=principal.org,
            generated_at=utcnow(),
            records=records,
        )

    return router
