"""Onboarding as people see it (docs/onboarding.md): an annotator's own standing and training
feedback, a project's people for their vendor admin (or the client, the operator), and
admission by hand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from aviary.contracts.onboarding import AdmitBody, Feedback, GatedProject, OnboardingRead
from services.review.deps import OnboardingDep, ProjectsDep
from services.review.onboarding import onboarding_read
from services.review.views import known_project
from shared.errors import AppError, NotFound
from shared.events import ProjectUpserted
from shared.security.auth import Principal, Role, require_roles
from shared.store.mongo import utcnow

router = APIRouter(tags=["onboarding"])

Annotator = Annotated[Principal, require_roles(Role.ANNOTATOR)]
Overseer = Annotated[Principal, require_roles(Role.VENDOR_ADMIN, Role.CLIENT, Role.OPERATOR)]
VendorAdmin = Annotated[Principal, require_roles(Role.VENDOR_ADMIN)]


def visible(project: ProjectUpserted, principal: Principal) -> str | None:
    """Whose people the caller sees in the project: its own vendor's (a vendor admin whose
    vendor works on it), everyone's (its client, the operator); 404 for anyone else."""
    if principal.role == Role.OPERATOR:
        return None
    if principal.role == Role.CLIENT and principal.org == project.org_id:
        return None
    vendors = {v.vendor_id for v in project.vendors}
    if principal.role == Role.VENDOR_ADMIN and principal.vendor in vendors:
        return principal.vendor
    raise NotFound("project")


@router.get("/v1/onboarding/me", response_model=list[OnboardingRead])
async def my_onboarding(
    principal: Annotator, onboarding: OnboardingDep, projects: ProjectsDep
) -> list[OnboardingRead]:
    """The caller's standing in every project they have worked or trained on, and in every
    project of their vendor that asks for onboarding (where a new person starts): stage, exam
    attempts, admission, skill (overall and per class)."""
    vendor, now, out = principal.vendor or "", utcnow(), []
    docs = await onboarding.repo.of_person(vendor, principal.sub)
    for doc in docs:
        project = await projects.get(doc["project_id"])
        if project is not None:
            out.append(onboarding_read(doc, project, now))
    known = {d["project_id"] for d in docs}
    for project in await projects.gated(vendor_id=vendor):
        if project.project_id not in known:
            fresh = await onboarding.repo.get(None, project.project_id, vendor, principal.sub)
            out.append(onboarding_read(fresh, project, now))
    return out


@router.get("/v1/onboarding/projects", response_model=list[GatedProject])
async def gated_projects(
    principal: Overseer, onboarding: OnboardingDep, projects: ProjectsDep
) -> list[GatedProject]:
    """The projects that ask for onboarding, as the caller may see them (a vendor admin: those
    its vendor works on; a client: its own; the operator: all), with how many people trained
    and how many are admitted (the caller's own people, for a vendor admin)."""
    vendor = principal.vendor if principal.role == Role.VENDOR_ADMIN else None
    org = principal.org if principal.role == Role.CLIENT else None
    out = []
    for project in await projects.gated(vendor_id=vendor, org_id=org):
        people = await onboarding.repo.of_project(project.project_id, vendor)
        out.append(
            GatedProject(
                project_id=project.project_id,
                name=project.name,
                onboarding=project.onboarding,
                people=len(people),
                admitted=sum(bool(p["admitted"]) for p in people),
            )
        )
    return out


@router.get("/v1/projects/{project_id}/onboarding", response_model=list[OnboardingRead])
async def project_onboarding(
    project_id: str, principal: Overseer, onboarding: OnboardingDep, projects: ProjectsDep
) -> list[OnboardingRead]:
    """Who trained, who passed, who was admitted by hand (and why), everyone's skill: a vendor
    admin sees its own people, the client and the operator everyone."""
    project = await known_project(projects, project_id)
    vendor = visible(project, principal)
    now = utcnow()
    docs = await onboarding.repo.of_project(project_id, vendor)
    return [onboarding_read(d, project, now) for d in docs]


@router.put("/v1/projects/{project_id}/onboarding/{annotator_id}", response_model=OnboardingRead)
async def admit(
    project_id: str,
    annotator_id: str,
    body: AdmitBody,
    principal: VendorAdmin,
    onboarding: OnboardingDep,
    projects: ProjectsDep,
) -> OnboardingRead:
    """A vendor admin admits one of its people to the project's production tasks without
    the exam (or takes an admission back), with the reason recorded in the audit log."""
    project = await known_project(projects, project_id)
    vendor = visible(project, principal)
    assert vendor is not None  # a vendor admin always sees through its vendor
    if not project.onboarding.required:
        raise AppError(
            "no_onboarding",
            "this project admits everyone: it asks for no onboarding",
            status_code=409,
        )
    doc = await onboarding.admit_by_hand(
        project, vendor, annotator_id, principal.sub, body.admitted, body.reason
    )
    return onboarding_read(doc, project, utcnow())


@router.get("/v1/feedback/{submission_id}", response_model=Feedback)
async def training_feedback(
    submission_id: str, principal: Annotator, onboarding: OnboardingDep
) -> Feedback:
    """What a training submission of the caller's got right and wrong. 404 `not_scored_yet`
    for a moment after the submit (the SDK and the labeling page ask again)."""
    doc = await onboarding.repo.feedback_of(submission_id)
    if doc is None:
        raise AppError("not_scored_yet", "no feedback for this submission (yet)", status_code=404)
    if doc["annotator_id"] != principal.sub or doc["vendor_id"] != principal.vendor:
        raise NotFound("submission")
    return Feedback.model_validate(doc["feedback"])
