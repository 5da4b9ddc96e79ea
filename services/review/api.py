"""The reviewer API (next, accept, reject, correct) and appeals."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response, status

from aviary.contracts.review import (
    AppealBody,
    AppealDecisionBody,
    CorrectBody,
    DecisionResult,
    RejectBody,
    ReviewView,
    SubmissionView,
)
from services.review import domain
from services.review.deps import (
    AppealsDep,
    DecisionsDep,
    DeskDep,
    ProjectsDep,
    SubmissionsDep,
    UnitsDep,
    ViewsDep,
)
from services.review.repositories.units import is_dispute
from services.review.views import known_project
from shared.domain.projects import RECENT_S
from shared.errors import AppError, Conflict
from shared.security.auth import Principal, Role, require_roles, vendor_of
from shared.store.mongo import Doc
from shared.web.deps import WaitS

router = APIRouter(tags=["reviewer"])

Reviewer = Annotated[Principal, require_roles(Role.REVIEWER)]
Annotator = Annotated[Principal, require_roles(Role.ANNOTATOR)]
NO_CONTENT: dict[int | str, dict[str, Any]] = {204: {"description": "nothing waiting"}}


@router.post("/v1/reviews/next", response_model=ReviewView, responses=NO_CONTENT)
async def next_review(
    principal: Reviewer,
    desk: DeskDep,
    views: ViewsDep,
    wait_s: WaitS = 0,
) -> ReviewView | Response:
    """The oldest submission or disputed item of the reviewer's vendor, waiting up to `wait_s`
    seconds for one to arrive (204 when none did)."""
    unit = await desk.next_review(vendor_of(principal), principal.sub, wait_s)
    if unit is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return await views.view(unit)


@router.get("/v1/reviews/{unit_id}", response_model=ReviewView)
async def get_review(
    unit_id: str,
    principal: Reviewer,
    units: UnitsDep,
    views: ViewsDep,
) -> ReviewView:
    unit = await units.get(vendor_of(principal), unit_id)
    return await views.view(unit)


@router.post("/v1/reviews/{unit_id}/accept", response_model=DecisionResult)
async def accept(
    unit_id: str, principal: Reviewer, decisions: DecisionsDep, desk: DeskDep
) -> DecisionResult:
    """Accept a submission; for a disputed item, accept the shapes the annotators agreed on."""
    unit = await desk.unit(vendor_of(principal), principal.sub, unit_id)
    if is_dispute(unit_id):
        await decisions.settle_dispute(unit, principal.sub, None)
    else:
        await decisions.accept(unit, principal.sub)
    desk.decided(vendor_of(principal), principal.sub)
    return DecisionResult(id=unit_id, status="accepted")


@router.post("/v1/reviews/{unit_id}/reject", response_model=DecisionResult)
async def reject(
    unit_id: str,
    body: RejectBody,
    principal: Reviewer,
    projects: ProjectsDep,
    decisions: DecisionsDep,
    desk: DeskDep,
) -> DecisionResult:
    """Send the work back to its annotator: a reason from the project's list and a comment."""
    unit = await desk.unit(vendor_of(principal), principal.sub, unit_id)
    if is_dispute(unit_id):
        raise Conflict("use_correct", "a disputed item is settled by accepting or correcting it")
    project = await known_project(projects, unit["project_id"], RECENT_S)
    domain.check_rejection(body.reason, body.comment, project.reject_reasons)
    where = domain.check_rejected_part(unit, body.track_id, body.frames, body.segment_id)
    await decisions.reject(unit, principal.sub, body.reason, body.comment, **where)
    desk.decided(vendor_of(principal), principal.sub)
    return DecisionResult(id=unit_id, status="rejected")


@router.post("/v1/reviews/{unit_id}/correct", response_model=DecisionResult)
async def correct(
    unit_id: str,
    body: CorrectBody,
    principal: Reviewer,
    projects: ProjectsDep,
    decisions: DecisionsDep,
    desk: DeskDep,
) -> DecisionResult:
    """The reviewer's shapes become the final annotation; the annotator is credited with the
    share of their shapes the correction kept (a partial accept)."""
    unit = await desk.unit(vendor_of(principal), principal.sub, unit_id)
    project = await known_project(projects, unit["project_id"], RECENT_S)
    answer = domain.check_correction(unit, body.annotation, body.tracks, body.transcript)
    domain.require_valid_answer(answer, project, unit)
    if is_dispute(unit_id):
        await decisions.settle_dispute(unit, principal.sub, answer)
        desk.decided(vendor_of(principal), principal.sub)
        return DecisionResult(id=unit_id, status="accepted")
    credit = await decisions.correct(unit, principal.sub, answer)
    desk.decided(vendor_of(principal), principal.sub)
    return DecisionResult(id=unit_id, status="corrected", credit=round(credit, 4))


# ----- appeals -------------------------------------------------------------------------


def submission_view(sub: Doc) -> SubmissionView:
    appeal = sub.get("appeal")
    return SubmissionView(
        id=sub["_id"],
        task_id=sub["task_id"],
        project_id=sub["project_id"],
        # Gold tasks look like any other, before and after: "checked", not "gold".
        status="checked" if sub["status"] == "gold_scored" else sub["status"],
        outcome=sub.get("outcome"),
        rejection=sub.get("rejection"),
        appeal=(
            {k: v for k, v in appeal.items() if k not in ("rejected_by", "reviewer_id")}
            if appeal
            else None
        ),
    )


@router.get("/v1/submissions/{submission_id}", response_model=SubmissionView)
async def my_submission(
    submission_id: str, principal: Annotator, submissions: SubmissionsDep
) -> SubmissionView:
    """An annotator's own submission: its decision, the reviewer's reason, any appeal."""
    sub = await submissions.own(vendor_of(principal), submission_id)
    if sub["annotator_id"] != principal.sub:
        raise AppError("not_found", "submission not found", status_code=404)
    return submission_view(sub)


@router.post("/v1/appeals", response_model=SubmissionView, status_code=201)
async def appeal(
    body: AppealBody,
    principal: Annotator,
    submissions: SubmissionsDep,
    appeals: AppealsDep,
    desk: DeskDep,
) -> SubmissionView:
    """Appeal a rejection of one's own work, once, with a comment; another reviewer decides."""
    sub = await submissions.own(vendor_of(principal), body.submission_id)
    domain.check_appealable(sub, principal.sub)
    done = await appeals.open(sub, body.comment)
    desk.offer([done])
    return submission_view(done)


@router.post("/v1/appeals/next", response_model=ReviewView, responses=NO_CONTENT)
async def next_appeal(
    principal: Reviewer,
    desk: DeskDep,
    views: ViewsDep,
    wait_s: WaitS = 0,
) -> ReviewView | Response:
    """The oldest open appeal of the vendor that this reviewer did not reject, waiting up to
    `wait_s` seconds for one (204 when none came)."""
    sub = await desk.next_appeal(vendor_of(principal), principal.sub, wait_s)
    if sub is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return await views.view(sub)


@router.post("/v1/appeals/{submission_id}/decide", response_model=SubmissionView)
async def decide_appeal(
    submission_id: str,
    body: AppealDecisionBody,
    principal: Reviewer,
    units: UnitsDep,
    decisions: DecisionsDep,
) -> SubmissionView:
    sub = await units.get(vendor_of(principal), submission_id)
    appeal_doc = sub.get("appeal") or {}
    if appeal_doc.get("rejected_by") == principal.sub:
        raise AppError(
            "same_reviewer",
            "the reviewer who rejected the work cannot decide its appeal",
            status_code=403,
        )
    await decisions.decide_appeal(sub, principal.sub, body.decision == "overturn", body.comment)
    return submission_view(await units.get(vendor_of(principal), submission_id))
