"""The worker API: next, heartbeat, submit, skip, release."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from services.dispatch.leasing import Dispatcher
from services.dispatch.schemas import (
    ImageView,
    LeaseRef,
    LeaseView,
    ReworkComment,
    SkipBody,
    SubmitBody,
    SubmitResult,
    TaskView,
)
from services.dispatch.store import DispatchStore
from shared.annotation_rules import require_valid_annotation
from shared.auth import Principal, Role, require_roles, vendor_of
from shared.deps import RuntimeDep, WaitS, from_state
from shared.errors import Conflict
from shared.mongo import Doc
from shared.runtime import Runtime

router = APIRouter(prefix="/v1/tasks", tags=["worker"])

Annotator = Annotated[Principal, require_roles(Role.ANNOTATOR)]
StoreDep = Annotated[DispatchStore, Depends(from_state("store"))]
DispatcherDep = Annotated[Dispatcher, Depends(from_state("dispatcher"))]


async def task_view(
    store: DispatchStore, dispatcher: Dispatcher, runtime: Runtime, task: Doc
) -> TaskView:
    project = await store.get_project_version(task["project_id"], task["ontology_version"])
    image = task["image"]
    url = runtime.storage.presigned_get(
        image["bucket"], image["object_key"], runtime.settings.presign_ttl_s
    )
    return TaskView(
        id=task["_id"],
        lease_id=task["lease"]["id"],
        lease_expires_at=task["lease"]["expires_at"],
        project_id=task["project_id"],
        item_id=task["item_id"],
        ontology_version=task["ontology_version"],
        classes=list(project.ontology.classes),
        instructions=project.instructions,
        image=ImageView(url=url, width=image["width"], height=image["height"]),
        rework=task["rework"],
        comments=[ReworkComment.model_validate(c) for c in task["comments"]],
        piece_rate=project.piece_rate,
        estimated_seconds=await dispatcher.estimated_seconds(task["project_id"]),
        pre_annotation=task.get("pre_annotation"),
        previous_annotation=task.get("last_annotation") if task["rework"] else None,
    )


@router.post(
    "/next",
    response_model=TaskView,
    responses={204: {"description": "no task available within the wait"}},
)
async def next_task(
    principal: Annotator,
    store: StoreDep,
    dispatcher: DispatcherDep,
    runtime: RuntimeDep,
    wait_s: WaitS = 0,
) -> TaskView | Response:
    """Lease the next task, waiting up to `wait_s` seconds for one to appear.

    429 `daily_limit_reached` once the annotator's work limit for the day is used up."""
    task = await dispatcher.lease(vendor_of(principal), principal.sub, wait_s)
    if task is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return await task_view(store, dispatcher, runtime, task)


@router.post("/{task_id}/heartbeat", response_model=LeaseView)
async def heartbeat(
    task_id: str, body: LeaseRef, principal: Annotator, store: StoreDep, dispatcher: DispatcherDep
) -> LeaseView:
    await dispatcher.held_task(vendor_of(principal), principal.sub, task_id)
    task = await store.heartbeat(task_id, principal.sub, body.lease_id)
    return LeaseView(
        id=task["_id"], lease_id=task["lease"]["id"], lease_expires_at=task["lease"]["expires_at"]
    )


@router.post("/{task_id}/release", status_code=status.HTTP_204_NO_CONTENT)
async def release(
    task_id: str, body: LeaseRef, principal: Annotator, store: StoreDep, dispatcher: DispatcherDep
) -> None:
    """Hand the task back to the pool; the time held counts as worked."""
    task = await dispatcher.held_task(vendor_of(principal), principal.sub, task_id)
    await dispatcher.give_back(task, principal.sub, body.lease_id)


@router.post("/{task_id}/skip", status_code=status.HTTP_204_NO_CONTENT)
async def skip(
    task_id: str, body: SkipBody, principal: Annotator, store: StoreDep, dispatcher: DispatcherDep
) -> None:
    """Pass on a task with a reason; it goes to someone else (after several skips, to an
    operator)."""
    task = await dispatcher.held_task(vendor_of(principal), principal.sub, task_id)
    await dispatcher.give_back(
        task,
        principal.sub,
        body.lease_id,
        skip={"reason": body.reason.value, "comment": body.comment},
    )


@router.post("/{task_id}/submit", response_model=SubmitResult)
async def submit(
    task_id: str, body: SubmitBody, principal: Annotator, store: StoreDep, dispatcher: DispatcherDep
) -> SubmitResult:
    """Submit the annotation; it is checked against the task's ontology version and image."""
    task = await dispatcher.held_task(vendor_of(principal), principal.sub, task_id)
    version = task["ontology_version"]
    if body.ontology_version is not None and body.ontology_version != version:
        raise Conflict(
            "ontology_version_mismatch",
            f"the task uses ontology version {version}, not {body.ontology_version}",
        )
    project = await store.get_project_version(task["project_id"], version)
    require_valid_annotation(
        body.annotation, project.ontology, task["image"]["width"], task["image"]["height"]
    )
    submission_id = await dispatcher.submit(task, principal.sub, body.lease_id, body.annotation)
    return SubmitResult(task_id=task_id, submission_id=submission_id)
