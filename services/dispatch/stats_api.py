"""Task counts per project, by vendor and state: for clients, vendor admins and operators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from services.dispatch.store import DispatchStore
from shared.errors import NotFound
from shared.security.auth import Principal, Role, require_roles
from shared.web.deps import from_state

router = APIRouter(tags=["progress"])

Viewer = Annotated[Principal, require_roles(Role.CLIENT, Role.VENDOR_ADMIN, Role.OPERATOR)]
StoreDep = Annotated[DispatchStore, Depends(from_state("store"))]


class TaskStats(BaseModel):
    project_id: str
    by_vendor: dict[str, dict[str, int]]  # vendor -> state -> tasks


@router.get("/v1/projects/{project_id}/task-stats", response_model=TaskStats)
async def task_stats(project_id: str, principal: Viewer, store: StoreDep) -> TaskStats:
    """A client sees its own projects; a vendor admin only its own vendor's share of a project
    routed to it; other callers get 404."""
    project = await store.projects.get(project_id)
    if project is None:
        raise NotFound("project")
    stats = await store.project_task_stats(project_id)
    if principal.role == Role.CLIENT and project.org_id != principal.org:
        raise NotFound("project")
    if principal.role == Role.VENDOR_ADMIN:
        if principal.vendor not in {v.vendor_id for v in project.vendors} | set(stats):
            raise NotFound("project")
        stats = {principal.vendor: stats.get(principal.vendor, {})}
    return TaskStats(project_id=project_id, by_vendor=stats)
