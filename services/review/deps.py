"""Review's parts, built once in main.py, and the typed dependencies the routes declare.

A route names the repositories or services it uses (`units: UnitsDep`); FastAPI hands it the
ones main.py built, from `app.state.parts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.review.decisions import Decisions
from services.review.desk import Desk
from services.review.intake import Intake
from services.review.repositories import (
    AnnotatorRepository,
    AppealRepository,
    GoldRepository,
    OverlapRepository,
    StatementRepository,
    SubmissionRepository,
    UnitRepository,
)
from shared.domain.projects import ProjectReadModel
from shared.runtime import Runtime


@dataclass(frozen=True)
class ReviewParts:
    projects: ProjectReadModel
    units: UnitRepository
    submissions: SubmissionRepository
    appeals: AppealRepository
    annotators: AnnotatorRepository
    overlaps: OverlapRepository
    gold: GoldRepository
    statements: StatementRepository
    intake: Intake
    decisions: Decisions
    desk: Desk

    @classmethod
    def build(cls, runtime: Runtime) -> ReviewParts:
        db, outbox, audit = runtime.db, runtime.outbox, runtime.audit
        projects = ProjectReadModel(db)
        units = UnitRepository(db)
        submissions = SubmissionRepository(db)
        appeals = AppealRepository(db)
        annotators = AnnotatorRepository(db)
        overlaps = OverlapRepository(db)
        gold = GoldRepository(db, outbox, audit)
        statements = StatementRepository(db, audit)
        intake = Intake(projects, submissions, annotators, gold, overlaps, units, outbox)
        decisions = Decisions(db, outbox, audit, units, submissions, annotators, appeals)
        desk = Desk(units, appeals)
        return cls(
            projects,
            units,
            submissions,
            appeals,
            annotators,
            overlaps,
            gold,
            statements,
            intake,
            decisions,
            desk,
        )


async def get_parts(request: Request) -> ReviewParts:
    """A coroutine, so FastAPI runs it inline rather than in its thread pool."""
    parts: ReviewParts = request.app.state.parts
    return parts


async def get_projects(request: Request) -> ProjectReadModel:
    return (await get_parts(request)).projects


async def get_units(request: Request) -> UnitRepository:
    return (await get_parts(request)).units


async def get_submissions(request: Request) -> SubmissionRepository:
    return (await get_parts(request)).submissions


async def get_appeals(request: Request) -> AppealRepository:
    return (await get_parts(request)).appeals


async def get_gold(request: Request) -> GoldRepository:
    return (await get_parts(request)).gold


async def get_statements(request: Request) -> StatementRepository:
    return (await get_parts(request)).statements


async def get_decisions(request: Request) -> Decisions:
    return (await get_parts(request)).decisions


async def get_desk(request: Request) -> Desk:
    return (await get_parts(request)).desk


ProjectsDep = Annotated[ProjectReadModel, Depends(get_projects)]
UnitsDep = Annotated[UnitRepository, Depends(get_units)]
SubmissionsDep = Annotated[SubmissionRepository, Depends(get_submissions)]
AppealsDep = Annotated[AppealRepository, Depends(get_appeals)]
GoldDep = Annotated[GoldRepository, Depends(get_gold)]
StatementsDep = Annotated[StatementRepository, Depends(get_statements)]
DecisionsDep = Annotated[Decisions, Depends(get_decisions)]
DeskDep = Annotated[Desk, Depends(get_desk)]
