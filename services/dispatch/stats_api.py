"""Tasks by state: per project, by vendor (for clients, vendor admins and operators), and in
all for the dashboard's gauges."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel

from services.dispatch.deps import DispatchParts, PartsDep
from shared.errors import NotFound
from shared.security.auth import Principal, Role, require_roles

router = APIRouter(tags=["progress"])

Viewer = Annotated[Principal, require_roles(Role.CLIENT, Role.VENDOR_ADMIN, Role.OPERATOR)]


class TaskStats(BaseModel):
    project_id: str
    by_vendor: dict[str, dict[str, int]]  # vendor -> state -> tasks


@router.get("/v1/projects/{project_id}/task-stats", response_model=TaskStats)
async def task_stats(project_id: str, principal: Viewer, parts: PartsDep) -> TaskStats:
    """A client sees its own projects; a vendor admin only its own vendor's share of a project
    routed to it; other callers get 404."""
    project = await parts.tasks.projects.get(project_id)
    if project is None:
        raise NotFound("project")
    tasks = await parts.tasks.project_tasks(project_id)
    states = await parts.leases.states(tasks)
    stats: dict[str, dict[str, int]] = {}
    for task in tasks:
        by_state = stats.setdefault(task["vendor_id"], {})
        by_state[states[task["_id"]]] = by_state.get(states[task["_id"]], 0) + 1
    if principal.role == Role.CLIENT and project.org_id != principal.org:
        raise NotFound("project")
    if principal.role == Role.VENDOR_ADMIN:
        if principal.vendor not in {v.vendor_id for v in project.vendors} | set(stats):
            raise NotFound("project")
        stats = {principal.vendor: stats.get(principal.vendor, {})}
    return TaskStats(project_id=project_id, by_vendor=stats)


async def count_by_state(parts: DispatchParts, pending: int) -> tuple[dict[str, int], int]:
    """Tasks in each state, and the people holding leases, at a cost that does not grow with
    the tasks: `pending` as the caller's pool holds them, `leased` as the live processes
    report, flagged and dropped through the status index, the rest submitted (from the counts
    kept at creation). Reading the open lists or counting the tasks read every task on the embedded
    database, a stall of seconds at 200,000 tasks."""
    live = await parts.replicas.live()
    leased = sum(int(d.get("leases", 0)) for d in live)
    made, ended = await parts.tasks.count_made_and_ended()
    counts = {
        "pending": pending,
        "leased": leased,
        **ended,
        "submitted": max(0, made - pending - leased - sum(ended.values())),
    }
    return counts, len({h for d in live for h in d.get("holders", [])})
