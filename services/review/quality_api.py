"""Scores and statements: the same figures for workers and vendors (a vendor's pay against its
minimum wage is fair_work_api.py's)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from aviary.contracts.assist import ModelStats
from aviary.contracts.review import (
    ScoreRow,
    Scores,
    Statement,
    StatementLineView,
)
from services.review import domain
from services.review.deps import ModelStatsDep, ProjectsDep, StatementsDep
from services.review.repositories import StatementRepository
from services.review.views import known_project
from shared.domain.projects import ProjectReadModel
from shared.errors import NotFound
from shared.security.auth import Principal, Role, require_roles
from shared.store.mongo import Doc

router = APIRouter(tags=["quality"])

Anyone = Annotated[
    Principal,
    require_roles(Role.OPERATOR, Role.CLIENT, Role.VENDOR_ADMIN, Role.REVIEWER, Role.ANNOTATOR),
]
VendorAdmin = Annotated[Principal, require_roles(Role.VENDOR_ADMIN, Role.OPERATOR)]
ProjectAdmin = Annotated[Principal, require_roles(Role.CLIENT, Role.VENDOR_ADMIN, Role.OPERATOR)]
WorkerOrAdmin = Annotated[
    Principal, require_roles(Role.ANNOTATOR, Role.VENDOR_ADMIN, Role.OPERATOR)
]
Since = Annotated[datetime | None, Query(description="from (inclusive), ISO 8601")]
Until = Annotated[datetime | None, Query(description="to (exclusive), ISO 8601")]


def window(since: datetime | None, until: datetime | None) -> Doc:
    bounds: Doc = {}
    if since is not None:
        bounds["$gte"] = since
    if until is not None:
        bounds["$lt"] = until
    return {"created_at": bounds} if bounds else {}


def scope(principal: Principal) -> Doc:
    """What a caller may count: everything (operator), its own organisation's projects
    (client), its vendor (vendor admin, reviewer), its own work (annotator)."""
    if principal.role == Role.OPERATOR:
        return {}
    if principal.role == Role.CLIENT:
        return {"org_id": principal.org}
    if principal.role == Role.ANNOTATOR:
        return {"vendor_id": principal.vendor, "annotator_id": principal.sub}
    return {"vendor_id": principal.vendor}


def own_vendor(principal: Principal, vendor_id: str) -> str:
    if principal.role != Role.OPERATOR and principal.vendor != vendor_id:
        raise NotFound("vendor")
    return vendor_id


@router.get("/v1/scores", response_model=Scores)
async def scores(
    principal: Anyone,
    statements: StatementsDep,
    projects: ProjectsDep,
    group_by: Literal["annotator", "vendor", "project"] = "annotator",
    project_id: str | None = None,
    vendor_id: str | None = None,
    annotator_id: str | None = None,
    since: Since = None,
    until: Until = None,
    per_day: bool = False,
) -> Scores:
    """Acceptance rate, agreement, gold accuracy, rework and throughput, per annotator,
    vendor or project, over a time window (`per_day`: a row a day of each, for charts)."""
    filters = {
        k: v
        for k, v in (
            ("project_id", project_id),
            ("vendor_id", vendor_id),
            ("annotator_id", annotator_id),
        )
        if v is not None
    }
    # The caller's scope wins over any filter it asks for.
    query = {**filters, **scope(principal), **window(since, until)}
    # An annotator is one of a vendor's people: two vendors' may share a name.
    keys = ("annotator_id", "vendor_id") if group_by == "annotator" else (f"{group_by}_id",)
    tallies = domain.tally_by(await statements.facts(query), *keys, "day")
    if not per_day:
        tallies = domain.merge_days(tallies)
    names = await projects.names(group_by, {k[0] for k in tallies})
    vendors = await projects.names("vendor", {k[1] for k in tallies if len(k) > 2})
    rows = [
        ScoreRow(
            key=k[0],
            name=names.get(k[0]),
            vendor_id=k[1] if len(k) > 2 else None,
            vendor_name=vendors.get(k[1]) if len(k) > 2 else None,
            day=k[-1] or None,
            **t.summary(),
        )
        for k, t in sorted(tallies.items())
    ]
    return Scores(group_by=group_by, since=since, until=until, rows=rows)


async def vendor_rates(
    projects: ProjectReadModel, vendor_id: str, project_ids: Iterable[str]
) -> dict[str, float]:
    """What the vendor's people earn a task in each project (its own rate, else the
    project's; 0 for a project no longer known)."""
    rates = {}
    for project_id in set(project_ids):
        project = await projects.get(project_id)
        rates[project_id] = project.rate_for(vendor_id) if project else 0.0
    return rates


async def training_rates(
    projects: ProjectReadModel, vendor_id: str, project_ids: Iterable[str]
) -> dict[str, float]:
    """What the vendor pays its people an hour of training and exams, per project."""
    rates = {}
    for project_id in set(project_ids):
        project = await projects.get(project_id)
        shares = project.vendors if project else ()
        rates[project_id] = next((v.training_rate for v in shares if v.vendor_id == vendor_id), 0.0)
    return rates


async def build_statement(
    statements: StatementRepository,
    projects: ProjectReadModel,
    vendor_id: str,
    annotator_id: str,
    since: datetime | None,
    until: datetime | None,
) -> Statement:
    facts = await statements.facts(
        {"vendor_id": vendor_id, "annotator_id": annotator_id, **window(since, until)}
    )
    rates = await vendor_rates(projects, vendor_id, (f["project_id"] for f in facts))
    training = await training_rates(projects, vendor_id, (f["project_id"] for f in facts))
    lines = domain.statement(facts, rates, training)
    hourly = domain.effective_hourly(lines)
    minimum = await statements.minimum_wage(vendor_id)
    return Statement(
        annotator_id=annotator_id,
        vendor_id=vendor_id,
        lines=[
            StatementLineView(**vars(line), earnings=line.earnings, hourly=line.hourly)
            for line in lines
        ],
        completed=sum(line.completed for line in lines),
        earnings=round(sum(line.earnings for line in lines), 4),
        seconds_worked=round(sum(line.seconds_worked for line in lines), 1),
        effective_hourly=hourly,
        minimum_wage=minimum,
        below_minimum_wage=minimum is not None and hourly is not None and hourly < minimum,
    )


@router.get("/v1/vendors/{vendor_id}/annotators/{annotator_id}/statement", response_model=Statement)
async def statement(
    vendor_id: str,
    annotator_id: str,
    principal: WorkerOrAdmin,
    statements: StatementsDep,
    projects: ProjectsDep,
    since: Since = None,
    until: Until = None,
) -> Statement:
    """Completed, accepted, rejected and appealed work per project and day, the piece rate,
    time worked and the effective hourly earnings: the same page for the annotator and the
    vendor."""
    vendor_id = own_vendor(principal, vendor_id)
    if principal.role == Role.ANNOTATOR and principal.sub != annotator_id:
        raise NotFound("statement")
    return await build_statement(statements, projects, vendor_id, annotator_id, since, until)


@router.get("/v1/projects/{project_id}/assist-stats", response_model=list[ModelStats])
async def assist_stats(
    project_id: str, principal: ProjectAdmin, projects: ProjectsDep, stats: ModelStatsDep
) -> list[ModelStats]:
    """Per model, how people treated its proposals in the project's submitted tasks: kept,
    edited or deleted, and the share they had to correct. For the project's client, its
    vendors' admins and the operator (404 for anyone else, so ids do not leak)."""
    project = await known_project(projects, project_id)
    vendors = {v.vendor_id for v in project.vendors}
    if (principal.role == Role.CLIENT and principal.org != project.org_id) or (
        principal.role == Role.VENDOR_ADMIN and principal.vendor not in vendors
    ):
        raise NotFound("project")
    return [domain.model_stats(doc) for doc in await stats.of_project(project_id)]
