"""Deleting an item, a batch, a project (its client) or a client organisation (the
operator), and following the deletion to its certificate. The work is in `deletions.py`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Query, status

from aviary.contracts.ingest import DeletionCertificate, DeletionRead
from services.ingest.deps import BatchesDep, DeletionsDep, ItemsDep, OrgsDep, ProjectsDep
from shared.events import EVERYTHING, DeletionScope
from shared.security.auth import Principal, Role, org_scope, require_roles
from shared.store.mongo import Doc

router = APIRouter(prefix="/v1")

Operator = Annotated[Principal, require_roles(Role.OPERATOR)]
ClientOrOperator = Annotated[Principal, require_roles(Role.CLIENT, Role.OPERATOR)]
ACCEPTED = status.HTTP_202_ACCEPTED
Getter = Callable[[str | None, str], Awaitable[Doc]]  # (caller's org, id) -> the target, or 404


def deletion_read(doc: Doc) -> DeletionRead:
    cert = doc.get("certificate")
    return DeletionRead(
        id=doc["_id"],
        scope=doc["scope"],
        parts=doc.get("parts") or list(EVERYTHING),
        target_id=doc["target_id"],
        org_id=doc["org_id"],
        status=doc["status"],
        requested_by=doc["requested_by"],
        requested_at=doc["requested_at"],
        services_done=sorted(doc.get("services", {})),
        certificate=None if cert is None else DeletionCertificate.model_validate(cert),
    )


@router.delete("/items/{item_id}", status_code=ACCEPTED, response_model=DeletionRead)
async def delete_item(
    item_id: str, principal: ClientOrOperator, items: ItemsDep, deletions: DeletionsDep
) -> DeletionRead:
    """Delete one item: its media and everything made from it, its tasks, the work on it,
    and the delivery packages of its batch (they hold it). 202 with the deletion; asking
    again returns the same deletion."""
    return await _delete(principal, "item", item_id, deletions, items.get)


@router.delete("/batches/{batch_id}", status_code=ACCEPTED, response_model=DeletionRead)
async def delete_batch(
    batch_id: str, principal: ClientOrOperator, batches: BatchesDep, deletions: DeletionsDep
) -> DeletionRead:
    """Delete a batch with every item in it, as `DELETE /v1/items/{id}` does for one."""
    return await _delete(principal, "batch", batch_id, deletions, batches.get)


@router.delete("/projects/{project_id}", status_code=ACCEPTED, response_model=DeletionRead)
async def delete_project(
    project_id: str, principal: ClientOrOperator, projects: ProjectsDep, deletions: DeletionsDep
) -> DeletionRead:
    """Delete a project: its versions, batches, items, work and deliveries."""
    return await _delete(principal, "project", project_id, deletions, projects.get)


@router.delete("/orgs/{org_id}", status_code=ACCEPTED, response_model=DeletionRead)
async def delete_org(
    org_id: str, principal: Operator, orgs: OrgsDep, deletions: DeletionsDep
) -> DeletionRead:
    """Delete a client organisation: every project of it, its tokens and itself (422
    `not_a_client` for a vendor)."""

    async def get(_: str | None, target_id: str) -> Doc:
        return await orgs.get(target_id)

    return await _delete(principal, "org", org_id, deletions, get)


@router.get("/deletions/{deletion_id}", response_model=DeletionRead)
async def get_deletion(
    deletion_id: str, principal: ClientOrOperator, deletions: DeletionsDep
) -> DeletionRead:
    """A deletion: `pending` until every service has removed its part, then `complete`
    with its certificate."""
    return deletion_read(await deletions.repo.get(org_scope(principal), deletion_id))


@router.get("/deletions", response_model=list[DeletionRead])
async def list_deletions(
    principal: ClientOrOperator,
    deletions: DeletionsDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeletionRead]:
    """The organisation's deletions (the operator: everyone's), newest first."""
    return [deletion_read(d) for d in await deletions.repo.of_org(org_scope(principal), limit)]


async def _delete(
    principal: Principal,
    scope: DeletionScope,
    target_id: str,
    deletions: DeletionsDep,
    get: Getter,
) -> DeletionRead:
    org = org_scope(principal)
    existing = await deletions.existing(org, target_id)
    if existing is not None:
        return deletion_read(existing)
    target = await get(org, target_id)
    return deletion_read(await deletions.request(principal, scope, target))
