"""The flagged-task queue over HTTP: operators see every client's, a client its own.

`GET /v1/flagged-tasks`, then per task `POST .../return` (to the pool, or to a chosen vendor
of the project) or `POST .../drop` (the item leaves its batch). The work is in `flagged_store.py`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from aviary.contracts.dispatch import (
    ClipView,
    DropBody,
    DropResult,
    FlaggedPage,
    FlaggedTaskView,
    ImageView,
    ReturnBody,
    ReturnResult,
    SkipView,
)
from services.dispatch.deps import DispatchParts, PartsDep
from shared.security.auth import Principal, Role, org_scope, require_roles
from shared.store.mongo import Doc

router = APIRouter(prefix="/v1/flagged-tasks", tags=["flagged tasks"])

Decider = Annotated[Principal, require_roles(Role.CLIENT, Role.OPERATOR)]


async def flagged_view(parts: DispatchParts, task: Doc) -> FlaggedTaskView:
    project = await parts.tasks.projects.get(task["project_id"])
    image = task["image"]
    ttl = parts.runtime.settings.presign_ttl_s
    url = parts.runtime.storage.presigned_get(image["bucket"], image["object_key"], ttl)
    parts.runtime.media_reads.record(
        task["item_id"], "image", ttl, orgs=[task["org_id"]], task_id=task["_id"]
    )
    clip = task.get("clip")
    return FlaggedTaskView(
        id=task["_id"],
        project_id=task["project_id"],
        project_name=project.name if project is not None else task["project_id"],
        batch_id=task["batch_id"],
        item_id=task["item_id"],
        org_id=task["org_id"],
        vendor_id=task["vendor_id"],
        rework=int(task.get("rework", 0)),
        skips=[
            SkipView(
                annotator_id=s["annotator_id"],
                reason=s["reason"],
                comment=s.get("comment") or "",
                at=s["at"],
            )
            for s in task.get("skips", [])
        ],
        image=ImageView(url=url, width=image["width"], height=image["height"]),
        clip=ClipView.model_validate(clip) if clip is not None else None,
        allowed_vendors=list(task.get("allowed_vendors", [])),
        vendor_names=dict(project.vendor_names) if project is not None else {},
        flagged_at=task.get("pending_since"),
    )


@router.get("", response_model=FlaggedPage)
async def flagged_tasks(
    principal: Decider,
    parts: PartsDep,
    project_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> FlaggedPage:
    """Tasks skipped by too many people, longest waiting first, with why they were skipped."""
    tasks = await parts.flagged.page(org_scope(principal), project_id, limit)
    return FlaggedPage(tasks=[await flagged_view(parts, t) for t in tasks])


@router.post("/{task_id}/return", response_model=ReturnResult)
async def return_task(
    task_id: str, body: ReturnBody, principal: Decider, parts: PartsDep
) -> ReturnResult:
    """Back to the pool with its skips cleared, to its vendor or to `vendor_id` (one of the
    project's vendors; 422 `vendor_not_in_project` otherwise). 409 `not_flagged` when it is
    not flagged."""
    task = await parts.flagged.get(org_scope(principal), task_id)
    returned = await parts.flagged.return_to_pool(task, body.vendor_id)
    parts.dispatcher.offer([returned])
    return ReturnResult(id=task_id, vendor_id=returned["vendor_id"])


@router.post("/{task_id}/drop", response_model=DropResult)
async def drop_item(
    task_id: str, body: DropBody, principal: Decider, parts: PartsDep
) -> DropResult:
    """Take the task's item out of its batch: every task of the item ends (leases on them at
    once), and the batch's full delivery completes without it, listing it with `reason`."""
    task = await parts.flagged.get(org_scope(principal), task_id)
    event, ended = await parts.flagged.drop(task, body.reason, principal.sub)
    parts.dispatcher.offer(ended)
    return DropResult(item_id=event.item_id, batch_id=event.batch_id, tasks_ended=len(ended))
