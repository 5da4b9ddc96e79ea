"""Gold items: a client (for its projects) or a reviewer (for projects routed to its vendor)
marks an item (a video: one of its clips) with its known answer; dispatch mixes copies in at
the project's `gold_rate`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from aviary.contracts.review import ImageView
from aviary.contracts.shapes import OntologyClass
from services.review.deps import GoldDep, ProjectsDep, SubmissionsDep
from services.review.domain import Answer, require_valid_answer
from shared.domain.projects import ProjectReadModel
from shared.errors import AppError, NotFound
from shared.events import Annotation, ProjectUpserted, TrackAnnotation, Transcript
from shared.security.auth import Principal, Role, require_roles
from shared.store.mongo import Doc
from shared.web.deps import RuntimeDep

router = APIRouter(tags=["gold"])

Curator = Annotated[Principal, require_roles(Role.CLIENT, Role.REVIEWER, Role.OPERATOR)]


class GoldBody(BaseModel):
    """An image's known shapes, a video clip's known tracks (`clip` and `tracks`), or an
    audio part's known transcript (`clip`: the part, and `transcript`)."""

    model_config = ConfigDict(extra="forbid")
    item_id: str = Field(min_length=1, max_length=100)
    annotation: Annotation = Annotation()
    clip: int | None = Field(default=None, ge=0)
    tracks: TrackAnnotation | None = None
    transcript: Transcript | None = None


class GoldView(BaseModel):
    id: str
    project_id: str
    item_id: str
    ontology_version: int
    annotation: Annotation
    clip: int | None = None
    tracks: TrackAnnotation | None = None
    transcript: Transcript | None = None
    active: bool
    created_by: str
    created_at: datetime


def gold_view(doc: Doc) -> GoldView:
    return GoldView(
        id=doc["_id"],
        project_id=doc["project_id"],
        item_id=doc["item_id"],
        ontology_version=doc["ontology_version"],
        annotation=Annotation.model_validate(doc["answer"]),
        clip=doc["clip"]["index"] if doc.get("clip") else None,
        tracks=doc.get("tracks"),
        transcript=doc.get("transcript"),
        active=doc["active"],
        created_by=doc["created_by"],
        created_at=doc["created_at"],
    )


class GoldResult(BaseModel):
    """One gold task as scored: who did it and how close to the known answer they came."""

    submission_id: str
    gold_id: str
    item_id: str
    clip: int | None = None
    annotator_id: str
    vendor_id: str
    score: float
    at: datetime


class GoldComparison(GoldResult):
    """A gold task's submission beside the known answer, to look at side by side."""

    image: ImageView
    classes: list[OntologyClass]
    submitted: Annotation
    answer: Annotation
    submitted_tracks: TrackAnnotation | None = None
    answer_tracks: TrackAnnotation | None = None
    submitted_transcript: Transcript | None = None
    answer_transcript: Transcript | None = None


def gold_result(doc: Doc) -> GoldResult:
    return GoldResult(
        submission_id=doc["_id"],
        gold_id=doc["gold_id"],
        item_id=doc["item_id"],
        clip=doc["clip"]["index"] if doc.get("clip") else None,
        annotator_id=doc["annotator_id"],
        vendor_id=doc["vendor_id"],
        score=doc["gold_score"],
        at=doc["created_at"],
    )


def people_seen(principal: Principal, annotator_id: str | None) -> Doc:
    """Whose results a caller sees: a reviewer its own vendor's people, others the project's."""
    people: Doc = {"vendor_id": principal.vendor} if principal.role == Role.REVIEWER else {}
    if annotator_id is not None:
        people["annotator_id"] = annotator_id
    return people


async def curated_project(
    projects: ProjectReadModel, principal: Principal, project_id: str
) -> ProjectUpserted:
    """The project, if this caller may curate its gold; 404 otherwise, so ids do not leak."""
    project = await projects.get(project_id)
    if project is None:
        raise NotFound("project")
    if principal.role == Role.CLIENT and project.org_id != principal.org:
        raise NotFound("project")
    if principal.role == Role.REVIEWER and principal.vendor not in {
        v.vendor_id for v in project.vendors
    }:
        raise NotFound("project")
    return project


@router.post("/v1/projects/{project_id}/gold", response_model=GoldView, status_code=201)
async def add_gold(
    project_id: str,
    body: GoldBody,
    principal: Curator,
    projects: ProjectsDep,
    submissions: SubmissionsDep,
    gold: GoldDep,
) -> GoldView:
    """The item (or the clip) must have been labeled in the project at least once: that is
    how review knows its image and frames. The answer is validated like a submission."""
    project = await curated_project(projects, principal, project_id)
    given = {
        "image": body.clip is None and body.tracks is None and body.transcript is None,
        "video": body.clip is not None and body.tracks is not None and body.transcript is None,
        "audio": body.clip is not None and body.transcript is not None and body.tracks is None,
    }
    if not given[project.media]:
        raise AppError(
            "wrong_media",
            "a video project's gold is a clip with its tracks (`clip`, `tracks`), an audio "
            "project's a part with its transcript (`clip`, `transcript`); an image project's "
            "is an annotation",
            status_code=422,
        )
    seen = await submissions.seen_item(project_id, body.item_id, body.clip)
    answer = Answer(body.annotation, body.tracks, body.transcript)
    require_valid_answer(answer, project, seen)
    added = await gold.add(project, seen, answer, principal.sub)
    return gold_view(added)


@router.get("/v1/projects/{project_id}/gold", response_model=list[GoldView])
async def list_gold(
    project_id: str, principal: Curator, projects: ProjectsDep, gold: GoldDep
) -> list[GoldView]:
    await curated_project(projects, principal, project_id)
    return [gold_view(d) for d in await gold.in_project(project_id)]


@router.delete("/v1/projects/{project_id}/gold/{gold_id}", status_code=204)
async def retire_gold(
    project_id: str, gold_id: str, principal: Curator, projects: ProjectsDep, gold: GoldDep
) -> None:
    """Take a gold item out of rotation (its past scores stay)."""
    await curated_project(projects, principal, project_id)
    await gold.retire(project_id, gold_id)


@router.get("/v1/projects/{project_id}/gold/results", response_model=list[GoldResult])
async def gold_results(
    project_id: str,
    principal: Curator,
    projects: ProjectsDep,
    submissions: SubmissionsDep,
    annotator_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[GoldResult]:
    """The project's gold tasks as scored, newest first (one person's with `annotator_id`)."""
    await curated_project(projects, principal, project_id)
    people = people_seen(principal, annotator_id)
    return [gold_result(d) for d in await submissions.gold_scored(project_id, people, limit)]


@router.get("/v1/projects/{project_id}/gold/results/{submission_id}", response_model=GoldComparison)
async def gold_comparison(
    project_id: str,
    submission_id: str,
    principal: Curator,
    projects: ProjectsDep,
    submissions: SubmissionsDep,
    gold: GoldDep,
    runtime: RuntimeDep,
) -> GoldComparison:
    """What the annotator submitted beside the known answer, with the picture to draw them on."""
    project = await curated_project(projects, principal, project_id)
    found = await submissions.members([submission_id])
    doc = found[0] if found else {}
    mine = people_seen(principal, None).items() <= doc.items()
    if not mine or doc.get("route") != "gold" or doc["project_id"] != project_id:
        raise NotFound("gold result")
    known = (await gold.answers(None, [doc["gold_id"]])).get(doc["gold_id"])
    if known is None:
        raise NotFound("gold item")
    answer, submitted = Answer.of(known, "answer"), Answer.of(doc)
    image, ttl = doc["image"], runtime.settings.presign_ttl_s
    url = runtime.storage.presigned_get(image["bucket"], image["object_key"], ttl)
    runtime.media_reads.record(doc["item_id"], "image", ttl, orgs=[doc["org_id"]])
    return GoldComparison(
        **gold_result(doc).model_dump(),
        image=ImageView(url=url, width=image["width"], height=image["height"]),
        classes=list(project.ontology.classes),
        submitted=submitted.annotation,
        answer=answer.annotation,
        submitted_tracks=submitted.tracks,
        answer_tracks=answer.tracks,
        submitted_transcript=submitted.transcript,
        answer_transcript=answer.transcript,
    )
