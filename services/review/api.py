"""The reviewer API (next, accept, reject, correct) and appeals."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status

from aviary.contracts.review import (
    AppealBody,
    AppealDecisionBody,
    CorrectBody,
    DecisionResult,
    ImageView,
    OverlapView,
    RejectBody,
    ReviewView,
    SubmissionView,
)
from services.review import domain
from services.review.desk import Desk
from services.review.store import ReviewStore
from shared.domain.annotation_rules import require_valid_annotation
from shared.errors import AppError, Conflict
from shared.events import Annotation
from shared.runtime import Runtime
from shared.security.auth import Principal, Role, require_roles, vendor_of
from shared.store.mongo import Doc
from shared.web.deps import RuntimeDep, WaitS, from_state

router = APIRouter(tags=["reviewer"])

Reviewer = Annotated[Principal, require_roles(Role.REVIEWER)]
Annotator = Annotated[Principal, require_roles(Role.ANNOTATOR)]
StoreDep = Annotated[ReviewStore, Depends(from_state("store"))]
DeskDep = Annotated[Desk, Depends(from_state("desk"))]
NO_CONTENT: dict[int | str, dict[str, Any]] = {204: {"description": "nothing waiting"}}


async def review_view(store: ReviewStore, runtime: Runtime, unit: Doc) -> ReviewView:
    project = await store.project(unit["project_id"])
    image = unit["image"]
    url = runtime.storage.presigned_get(
        image["bucket"], image["object_key"], runtime.settings.presign_ttl_s
    )
    dispute = unit["_id"].startswith("cns_")
    overlaps = (
        [
            OverlapView(
                submission_id=m["_id"],
                annotator_id=m["annotator_id"],
                annotation=Annotation.model_validate(m["annotation"]),
                agreement=m.get("agreement"),
            )
            for m in await store.members(unit)
        ]
        if dispute
        else []
    )
    lease = unit.get("lease") or {}
    return ReviewView(
        id=unit["_id"],
        kind="consensus" if dispute else "submission",
        task_id=unit["task_id"],
        item_id=unit["item_id"],
        project_id=unit["project_id"],
        annotator_id=unit["annotator_id"],
        status=unit["status"],
        annotation=Annotation.model_validate(unit["merged"] if dispute else unit["annotation"]),
        overlaps=overlaps,
        agreement=unit.get("agreement"),
        classes=list(project.ontology.classes),
        reject_reasons=list(project.reject_reasons),
        image=ImageView(url=url, width=image["width"], height=image["height"]),
        rework=unit.get("rework", 0),
        lease_expires_at=lease.get("expires_at"),
        appeal_comment=(unit.get("appeal") or {}).get("comment"),
        rejection=unit.get("rejection"),
    )


@router.post("/v1/reviews/next", response_model=ReviewView, responses=NO_CONTENT)
async def next_review(
    principal: Reviewer, store: StoreDep, desk: DeskDep, runtime: RuntimeDep, wait_s: WaitS = 0
) -> ReviewView | Response:
    """The oldest submission or disputed item of the reviewer's vendor, waiting up to `wait_s`
    seconds for one to arrive (204 when none did)."""
    unit = await desk.next_review(vendor_of(principal), principal.sub, wait_s)
    if unit is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return await review_view(store, runtime, unit)


@router.get("/v1/reviews/{unit_id}", response_model=ReviewView)
async def get_review(
    unit_id: str, principal: Reviewer, store: StoreDep, runtime: RuntimeDep
) -> ReviewView:
    return await review_view(store, runtime, await store.get_unit(vendor_of(principal), unit_id))


@router.post("/v1/reviews/{unit_id}/accept", response_model=DecisionResult)
async def accept(
    unit_id: str, principal: Reviewer, store: StoreDep, desk: DeskDep
) -> DecisionResult:
    """Accept a submission; for a disputed item, accept the shapes the annotators agreed on."""
    unit = await store.get_unit(vendor_of(principal), unit_id)
    if unit_id.startswith("cns_"):
        await store.settle_dispute(unit, principal.sub, None)
    else:
        await store.accept(unit, principal.sub)
    desk.decided(vendor_of(principal), principal.sub)
    return DecisionResult(id=unit_id, status="accepted")


@router.post("/v1/reviews/{unit_id}/reject", response_model=DecisionResult)
async def reject(
    unit_id: str, body: RejectBody, principal: Reviewer, store: StoreDep, desk: DeskDep
) -> DecisionResult:
    """Send the work back to its annotator: a reason from the project's list and a comment."""
    unit = await store.get_unit(vendor_of(principal), unit_id)
    if unit_id.startswith("cns_"):
        raise Conflict("use_correct", "a disputed item is settled by accepting or correcting it")
    project = await store.project(unit["project_id"])
    domain.check_rejection(body.reason, body.comment, project.reject_reasons)
    await store.reject(unit, principal.sub, body.reason, body.comment)
    desk.decided(vendor_of(principal), principal.sub)
    return DecisionResult(id=unit_id, status="rejected")


@router.post("/v1/reviews/{unit_id}/correct", response_model=DecisionResult)
async def correct(
    unit_id: str, body: CorrectBody, principal: Reviewer, store: StoreDep, desk: DeskDep
) -> DecisionResult:
    """The reviewer's shapes become the final annotation; the annotator is credited with the
    share of their shapes the correction kept (a partial accept)."""
    unit = await store.get_unit(vendor_of(principal), unit_id)
    project = await store.project(unit["project_id"])
    require_valid_annotation(
        body.annotation, project.ontology, unit["image"]["width"], unit["image"]["height"]
    )
    if unit_id.startswith("cns_"):
        await store.settle_dispute(unit, principal.sub, body.annotation)
        desk.decided(vendor_of(principal), principal.sub)
        return DecisionResult(id=unit_id, status="accepted")
    credit = await store.correct(unit, principal.sub, body.annotation)
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
    submission_id: str, principal: Annotator, store: StoreDep
) -> SubmissionView:
    """An annotator's own submission: its decision, the reviewer's reason, any appeal."""
    sub = await store.get_own_submission(vendor_of(principal), submission_id)
    if sub["annotator_id"] != principal.sub:
        raise AppError("not_found", "submission not found", status_code=404)
    return submission_view(sub)


@router.post("/v1/appeals", response_model=SubmissionView, status_code=201)
async def appeal(
    body: AppealBody, principal: Annotator, store: StoreDep, desk: DeskDep
) -> SubmissionView:
    """Appeal a rejection of one's own work, once, with a comment; another reviewer decides."""
    sub = await store.get_own_submission(vendor_of(principal), body.submission_id)
    done = await store.appeal(sub, principal.sub, body.comment)
    desk.offer([done])
    return submission_view(done)


@router.post("/v1/appeals/next", response_model=ReviewView, responses=NO_CONTENT)
async def next_appeal(
    principal: Reviewer, store: StoreDep, desk: DeskDep, runtime: RuntimeDep, wait_s: WaitS = 0
) -> ReviewView | Response:
    """The oldest open appeal of the vendor that this reviewer did not reject, waiting up to
    `wait_s` seconds for one (204 when none came)."""
    sub = await desk.next_appeal(vendor_of(principal), principal.sub, wait_s)
    if sub is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return await review_view(store, runtime, sub)


@router.post("/v1/appeals/{submission_id}/decide", response_model=SubmissionView)
async def decide_appeal(
    submission_id: str,
    body: AppealDecisionBody,
    principal: Reviewer,
    store: StoreDep,
) -> SubmissionView:
    sub = await store.get_unit(vendor_of(principal), submission_id)
    appeal_doc = sub.get("appeal") or {}
    if appeal_doc.get("rejected_by") == principal.sub:
        raise AppError(
            "same_reviewer",
            "the reviewer who rejected the work cannot decide its appeal",
            status_code=403,
        )
    await store.decide_appeal(sub, principal.sub, body.decision == "overturn", body.comment)
    return submission_view(await store.get_unit(vendor_of(principal), submission_id))
