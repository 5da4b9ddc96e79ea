"""Review's parts, built once in main.py, and the typed dependencies the routes declare.

A route names the repositories or services it uses (`units: UnitsDep`); FastAPI hands it the
ones main.py built, from `app.state.parts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.review.decisions import Decisions
from services.review.desk import Desk
from services.review.intake import Intake
from services.review.onboarding import Onboarding
from services.review.repositories import (
    AnnotatorRepository,
    AppealRepository,
    GoldRepository,
    ModelStatsRepository,
    OverlapRepository,
    StatementRepository,
    SubmissionRepository,
    UnitRepository,
)
from services.review.repositories.onboarding import OnboardingRepository
from services.review.views import ReviewViews
from shared.domain.projects import ProjectReadModel
from shared.runtime import Runtime
from shared.web.deps import PartsOf


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
    model_stats: ModelStatsRepository
    intake: Intake
    decisions: Decisions
    desk: Desk
    views: ReviewViews
    onboarding: Onboarding

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
        model_stats = ModelStatsRepository(db)
        onboarding = Onboarding(db, OnboardingRepository(db), projects, outbox, audit)
        desk = Desk(units, appeals)
        intake = Intake(
            projects,
            submissions,
            annotators,
            gold,
            overlaps,
            units,
            model_stats,
            outbox,
            onboarding,
            queued=desk.queued_here,
        )
        decisions = Decisions(
            db, outbox, audit, units, submissions, annotators, appeals, onboarding
        )
        views = ReviewViews(projects, submissions, runtime)
        return cls(
            projects,
            units,
            submissions,
            appeals,
            annotators,
            overlaps,
            gold,
            statements,
            model_stats,
            intake,
            decisions,
            desk,
            views,
            onboarding,
        )


from_app = PartsOf(ReviewParts)
ProjectsDep = Annotated[ProjectReadModel, Depends(from_app.part(lambda p: p.projects))]
UnitsDep = Annotated[UnitRepository, Depends(from_app.part(lambda p: p.units))]
SubmissionsDep = Annotated[SubmissionRepository, Depends(from_app.part(lambda p: p.submissions))]
AppealsDep = Annotated[AppealRepository, Depends(from_app.part(lambda p: p.appeals))]
GoldDep = Annotated[GoldRepository, Depends(from_app.part(lambda p: p.gold))]
StatementsDep = Annotated[StatementRepository, Depends(from_app.part(lambda p: p.statements))]
ModelStatsDep = Annotated[ModelStatsRepository, Depends(from_app.part(lambda p: p.model_stats))]
DecisionsDep = Annotated[Decisions, Depends(from_app.part(lambda p: p.decisions))]
DeskDep = Annotated[Desk, Depends(from_app.part(lambda p: p.desk))]
ViewsDep = Annotated[ReviewViews, Depends(from_app.part(lambda p: p.views))]
OnboardingDep = Annotated[Onboarding, Depends(from_app.part(lambda p: p.onboarding))]
