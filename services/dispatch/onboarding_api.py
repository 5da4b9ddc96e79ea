"""An annotator's training and exam tasks (docs/onboarding.md): the next one of a project."""

from __future__ import annotations

from fastapi import APIRouter

from aviary.contracts.dispatch import TaskView
from services.dispatch.api import WorkerDep, task_view
from shared.errors import AppError, NotFound
from shared.store.mongo import utcnow

router = APIRouter(prefix="/v1/projects", tags=["onboarding"])

REFUSALS = {
    "admitted": ("already_admitted", "you are admitted to this project: take its tasks"),
    "scoring": (
        "being_scored",
        "your exam (or training) is being scored; ask again in a moment",
    ),
}


@router.post(
    "/{project_id}/onboarding/next",
    response_model=TaskView,
    responses={
        409: {
            "description": "admitted already, being scored, waiting to retry the exam, "
            "no onboarding in this project, not enough gold items, or a task held already"
        }
    },
)
async def next_onboarding_task(project_id: str, call: WorkerDep) -> TaskView:
    """Lease the next training task (its feedback comes right after submit) or, once
    training is done, the next exam task. 409 says why there is none."""
    project = await call.parts.tasks.projects.get(project_id)
    if project is None:
        raise NotFound("project")
    onboarding = call.parts.onboarding
    step, task = await onboarding.next_task(project, call.vendor_id, call.annotator_id)
    if step.stage == "waiting":
        raise AppError(
            "retry_later",
            f"the exam may be taken again from {step.retry_at}",
            status_code=409,
            details={"retry_at": str(step.retry_at)},
        )
    if task is None:
        code, message = REFUSALS[step.stage]
        raise AppError(code, message, status_code=409)
    leased = await call.parts.leases.take(task, call.annotator_id, call.vendor_id, utcnow())
    if leased is None:
        raise AppError(
            "task_held",
            "you hold this task already: submit or release it first",
            status_code=409,
        )
    view = await task_view(call, leased)
    view.progress = (step.done, step.due)
    return view
