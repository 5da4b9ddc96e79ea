"""Onboarding in review: training and exam tasks scored against their gold items, training
feedback kept for its annotator, skills moved by every gold score and human decision, and
admission decided (by the exam, by a vendor admin's hand, or taken back when skill falls);
each change told to dispatch with `onboarding.changed` (docs/onboarding.md).

The rules are skills.py's and the comparison feedback.py's; this module keeps the record and
says what changed, in the transaction of the submission or decision that changed it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aviary.contracts.onboarding import (
    ExamAttempt,
    Feedback,
    OnboardingRead,
    OnboardingSettings,
    ShapeFeedback,
)
from aviary.contracts.tracks import TrackAnnotation
from services.review import domain, skills
from services.review.feedback import feedback, shape_feedback, track_feedback, word_feedback
from services.review.repositories.onboarding import OnboardingRepository
from shared.domain.projects import RECENT_S, ProjectReadModel
from shared.events import OnboardingChanged, ProjectUpserted, TaskSubmitted
from shared.messaging.outbox import Outbox
from shared.security.audit import AuditLog
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, utcnow


def training_feedback(
    event: TaskSubmitted, answer: domain.Answer, project: ProjectUpserted
) -> Feedback:
    """What a training submission got right and wrong against its gold item."""
    if answer.transcript is not None and event.transcript is not None:
        score, words = word_feedback(answer.transcript, event.transcript)
        return feedback(event.submission_id, event.project_id, score, words=words)
    if answer.tracks is not None:
        frames = domain.clip_frames(event.model_dump(mode="json", include={"clip"}))
        drawn = event.tracks or TrackAnnotation()
        score, tracks = track_feedback(answer.tracks, drawn, project.ontology, frames)
        return feedback(
            event.submission_id,
            event.project_id,
            score,
            shapes=tracks,
            instructions=project.instructions,
        )
    image = event.image
    score, shapes = shape_feedback(
        answer.annotation, event.annotation, project.ontology, image.width, image.height
    )
    return feedback(
        event.submission_id,
        event.project_id,
        score,
        shapes=shapes,
        answer=answer.annotation,
        instructions=project.instructions,
    )


def onboarding_read(doc: Doc, project: ProjectUpserted, now: datetime) -> OnboardingRead:
    settings = project.onboarding
    return OnboardingRead(
        project_id=doc["project_id"],
        project_name=project.name,
        vendor_id=doc["vendor_id"],
        annotator_id=doc["annotator_id"],
        stage=skills.stage_of(doc, settings, now),
        training_done=doc["training_done"],
        training_required=settings.training_tasks,
        exam_tasks=settings.exam_tasks,
        pass_mark=settings.pass_mark,
        attempts=[ExamAttempt.model_validate(a) for a in doc["attempts"]],
        retry_at=doc.get("retry_at"),
        admitted=doc["admitted"],
        admitted_by=doc.get("admitted_by"),
        reason=doc.get("reason"),
        skill=None if doc.get("skill") is None else round(doc["skill"], 4),
        class_skill={k: round(v, 4) for k, v in doc.get("class_skill", {}).items()},
        held_classes=doc.get("held_classes", []),
        outcomes=doc.get("outcomes", 0),
        updated_at=doc.get("updated_at"),
    )


class Onboarding:
    def __init__(
        self,
        db: ServiceDatabase,
        repo: OnboardingRepository,
        projects: ProjectReadModel,
        outbox: Outbox,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self.repo = repo
        self.projects = projects
        self.outbox = outbox
        self.audit = audit

    async def scored(
        self,
        session: AsyncClientSession,
        event: TaskSubmitted,
        score: float,
        answer: domain.Answer,
        project: ProjectUpserted,
    ) -> None:
        """A gold task was scored: the person's skill, and for a training or exam task their
        progress and perhaps their admission."""
        doc = await self.repo.get(
            session, event.project_id, event.vendor_id, event.annotator_id, event.org_id
        )
        settings = project.onboarding
        now = utcnow()
        changed = False
        # Shape by shape for every gold picture: the per-class skills learn from all of them.
        shown = training_feedback(event, answer, project)
        shapes: tuple[ShapeFeedback, ...] = tuple(shown.shapes)
        if event.stage == "training":
            await self.repo.add_feedback(
                session,
                {
                    "_id": event.submission_id,
                    "project_id": event.project_id,
                    "vendor_id": event.vendor_id,
                    "annotator_id": event.annotator_id,
                    "created_at": now,
                    "feedback": shown.model_dump(mode="json"),
                },
            )
        _learn(doc, score, shapes)
        if event.stage != "production":
            doc["training_seconds"] = doc.get("training_seconds", 0.0) + event.seconds_worked
        if event.stage == "training" and event.round == doc["round"] and not doc["admitted"]:
            doc["training_done"] += 1
            if not settings.exam_tasks and doc["training_done"] >= settings.training_tasks:
                _admit(doc, "training", "training done (the project has no exam)")
                changed = True
        elif event.stage == "exam" and not doc["admitted"]:
            changed = _exam_scored(doc, event.round, score, settings, now)
        changed = _maybe_retrain(doc, settings) or changed
        changed = _hold(doc, project) or changed
        await self._save(session, doc, changed, now)

    async def outcome(self, session: AsyncClientSession, sub: Doc, score: float) -> None:
        """A reviewer decided on a person's work (accepted 1, rejected 0, corrected: the
        credit): their skill moves, and may send them back to training."""
        project = await self.projects.get(sub["project_id"], max_age_s=RECENT_S)
        if project is None:
            return
        doc = await self.repo.get(
            session, sub["project_id"], sub["vendor_id"], sub["annotator_id"], sub["org_id"]
        )
        _learn(doc, score, ())
        changed = _maybe_retrain(doc, project.onboarding)
        await self._save(session, doc, _hold(doc, project) or changed, utcnow())

    async def admit_by_hand(
        self,
        project: ProjectUpserted,
        vendor_id: str,
        annotator_id: str,
        by: str,
        admitted: bool,
        reason: str,
    ) -> Doc:
        """A vendor admin admits a person (or takes the admission back), with a reason."""

        async def work(session: AsyncClientSession) -> Doc:
            doc = await self.repo.get(
                session, project.project_id, vendor_id, annotator_id, project.org_id
            )
            if admitted:
                _admit(doc, f"vendor_admin:{by}", reason)
            else:
                doc.update(admitted=False, admitted_by=None, reason=reason)
            now = utcnow()
            await self._save(session, doc, True, now)
            await self.audit.record(
                session,
                "onboarding.admitted" if admitted else "onboarding.admission_withdrawn",
                doc["_id"],
                orgs=[project.org_id, vendor_id],
                details={"reason": reason},
            )
            return doc

        doc: Doc = await self.db.transaction(work)
        self.outbox.notify()
        return doc

    async def _save(
        self, session: AsyncClientSession, doc: Doc, changed: bool, now: datetime
    ) -> None:
        await self.repo.save(session, doc)
        if not changed:
            return
        event = OnboardingChanged(
            project_id=doc["project_id"],
            org_id=doc["org_id"],
            vendor_id=doc["vendor_id"],
            annotator_id=doc["annotator_id"],
            admitted=doc["admitted"],
            admitted_by=doc.get("admitted_by"),
            reason=doc.get("reason"),
            round=doc["round"],
            attempts=sum(a["passed"] is not None for a in doc["attempts"]),
            retry_at=doc.get("retry_at"),
            held_classes=doc.get("held_class_ids", []),
            changed_at=now,
        )
        await self.outbox.add(session, domain.envelope(event, doc["org_id"], doc["vendor_id"]))


def _learn(doc: Doc, score: float, shapes: Any) -> None:
    doc["skill"] = skills.running(doc.get("skill"), score)
    doc["outcomes"] = doc.get("outcomes", 0) + 1
    doc["since_admission"] = doc.get("since_admission", 0) + 1
    per_class = doc.setdefault("class_skill", {})
    seen = doc.setdefault("class_outcomes", {})
    for name, outcome in skills.class_outcomes(shapes).items():
        per_class[name] = skills.running(per_class.get(name), outcome)
        seen[name] = seen.get(name, 0) + 1


def _hold(doc: Doc, project: ProjectUpserted) -> bool:
    """The hard classes the person is held from, kept by name and id; True if they changed."""
    held = skills.held_classes(doc, project.onboarding)
    if held == doc.get("held_classes", []):
        return False
    ids = {c.name: c.id for c in project.ontology.classes}
    doc["held_classes"], doc["held_class_ids"] = held, [ids[n] for n in held if n in ids]
    return True


def _admit(doc: Doc, by: str, reason: str) -> None:
    # Skill sends back only on outcomes after the admission (skills.MIN_OUTCOMES of them).
    doc.update(admitted=True, admitted_by=by, reason=reason, retry_at=None, since_admission=0)


def _exam_scored(
    doc: Doc, attempt: int, score: float, settings: OnboardingSettings, now: datetime
) -> bool:
    """One more exam task scored; True once the attempt is decided."""
    attempts: list[Doc] = doc["attempts"]
    entry = next((a for a in attempts if a["attempt"] == attempt), None)
    if entry is None:
        entry = {"attempt": attempt, "scores": [], "mean": None, "passed": None}
        attempts.append(entry)
    if entry["passed"] is not None:
        return False  # a late task of an attempt already decided
    entry["scores"].append(round(score, 4))
    result = skills.after_exam(entry["scores"], settings, now)
    if result is None:
        return False
    passed, mean, retry_at = result
    entry.update(mean=round(mean, 4), passed=passed, finished_at=now)
    if passed:
        _admit(doc, "exam", f"exam {mean:.2f}, pass mark {settings.pass_mark:.2f}")
    else:
        doc.update(
            retry_at=retry_at,
            reason=f"exam {mean:.2f} under the pass mark {settings.pass_mark:.2f}",
        )
    return True


def _maybe_retrain(doc: Doc, settings: OnboardingSettings) -> bool:
    """An admitted person whose skill fell under the minimum goes back to training."""
    if not skills.fell_below(doc, settings):
        return False
    doc.update(
        admitted=False,
        admitted_by=None,
        retry_at=None,
        round=doc["round"] + 1,
        training_done=0,
        reason=f"skill {doc['skill']:.2f} fell under {settings.min_skill:.2f}: back to training",
    )
    return True
