"""A submission arrives (`task.submitted`): recorded and routed in the consumer's transaction.

Routed by the project's policy: accepted at once, queued for a human, or held until the item's
other overlaps are in (consensus: merged when they agree, else a dispute for a human). A gold
task is scored against its known answer instead. One operation over several repositories
(submissions, annotators, gold, overlaps, units), so it lives here rather than in any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from services.review import domain
from services.review.consensus import consensus
from services.review.onboarding import Onboarding
from services.review.repositories import (
    AnnotatorRepository,
    GoldRepository,
    ModelStatsRepository,
    OverlapRepository,
    SubmissionRepository,
    UnitRepository,
)
from services.review.repositories.annotators import record_id
from services.review.speech_consensus import speech_consensus
from services.review.track_consensus import track_consensus
from shared.domain.projects import RECENT_S, ProjectReadModel
from shared.errors import RetryLater
from shared.events import (
    Annotation,
    Envelope,
    ProjectUpserted,
    TaskSubmitted,
    TrackAnnotation,
    Transcript,
)
from shared.messaging.outbox import Outbox
from shared.store.mongo import AsyncClientSession, Doc, after_commit, utcnow


def gold_answer(event: TaskSubmitted, golds: dict[str, Doc]) -> domain.Answer:
    gold = golds.get(str(event.gold_id))
    if gold is None:
        raise RetryLater(f"gold {event.gold_id} not known")
    return domain.Answer.of(gold, "answer")


def scored_gold(event: TaskSubmitted, answer: domain.Answer, now: datetime) -> Doc:
    """A gold task is scored against its known answer at once; it is never delivered."""
    doc: Doc = {
        "_id": event.submission_id,
        **event.model_dump(mode="json", exclude={"submission_id"}),
        "created_at": now,
        "day": domain.day_of(now),
        "route": "gold",
        "status": "gold_scored",
        "outcome": None,
        "decided_at": now,
        "lease": None,
        "appeal": None,
    }
    doc["gold_score"] = domain.credit_against(doc, answer)
    return doc


class Intake:
    def __init__(
        self,
        projects: ProjectReadModel,
        submissions: SubmissionRepository,
        annotators: AnnotatorRepository,
        gold: GoldRepository,
        overlaps: OverlapRepository,
        units: UnitRepository,
        model_stats: ModelStatsRepository,
        outbox: Outbox,
        onboarding: Onboarding,
        queued: Callable[[Sequence[Doc]], None] = lambda _: None,
    ) -> None:
        self.projects = projects
        self.submissions = submissions
        self.annotators = annotators
        self.gold = gold
        self.overlaps = overlaps
        self.units = units
        self.model_stats = model_stats
        self.outbox = outbox
        self.onboarding = onboarding
        # Told the units a group queued, once they are committed (the desk hands them out
        # with no read; what it misses, its next read of the queue brings).
        self.queued = queued

    async def receive(self, session: AsyncClientSession, events: Sequence[TaskSubmitted]) -> None:
        """Record submissions and route each: accepted now, queued for a human, or held for
        consensus with the item's other overlaps. Many share one transaction."""
        projects: dict[str, ProjectUpserted] = {}
        for project_id in {e.project_id for e in events}:
            project = await self.projects.get(project_id, max_age_s=RECENT_S)
            if project is None:
                raise RetryLater(f"project {project_id} not known yet")
            projects[project_id] = project
        record_ids = [record_id(e.project_id, e.vendor_id, e.annotator_id) for e in events]
        records = await self.annotators.records(session, record_ids)
        counted: dict[str, int] = {}  # submissions earlier in this group, per record
        now = utcnow()
        docs: list[Doc] = []
        accepted: list[Envelope] = []
        golds = await self.gold.answers(
            session, {e.gold_id for e in events if e.gold_id is not None}
        )
        for event, rid in zip(events, record_ids, strict=True):
            if event.gold_id is not None:
                answer = gold_answer(event, golds)
                scored = scored_gold(event, answer, now)
                docs.append(scored)
                project = projects[event.project_id]
                await self.onboarding.scored(session, event, scored["gold_score"], answer, project)
                continue
            record = records.get(rid, {})
            before = record.get("submitted", 0) + counted.get(rid, 0)
            counted[rid] = counted.get(rid, 0) + 1
            route = domain.route_submission(
                projects[event.project_id].review,
                event.submission_id,
                domain.AnnotatorRecord(before, tuple(record.get("recent", ()))),
            )
            doc: Doc = {
                "_id": event.submission_id,
                **event.model_dump(mode="json", exclude={"submission_id"}),
                "created_at": now,
                "day": domain.day_of(now),
                "route": route,
                "lease": None,
                "appeal": None,
            }
            if route == "accept":
                doc.update(status="accepted", outcome="accepted", credit=1.0, decided_at=now)
                accepted.append(domain.envelope(domain.accepted_event(doc, None), event.org_id))
            elif route == "human":
                project = projects[event.project_id]
                queue = domain.review_queue(project, event.vendor_id)
                doc.update(status="pending", queued_at=now, queue=queue)
            else:
                doc.update(status="waiting")
            docs.append(doc)
        await self.submissions.add(session, docs)
        if outcomes := domain.proposal_outcomes(events):
            await self.model_stats.add(session, outcomes)
        if counted:
            await self.annotators.count_submitted(session, counted)
        await self.outbox.add(session, *accepted)
        units = [doc for doc in docs if doc["status"] == "pending"]
        for doc in docs:
            if doc["route"] == "consensus":
                dispute = await self._collect_overlap(session, projects[doc["project_id"]], doc)
                if dispute is not None:
                    units.append(dispute)
        if units:
            after_commit(session, lambda: self.queued(units))

    async def _collect_overlap(
        self, session: AsyncClientSession, project: ProjectUpserted, doc: Doc
    ) -> Doc | None:
        """Once every overlap of the item (or clip) is in: merge when they agree, else a
        dispute for a human (returned)."""
        key = domain.overlap_key(doc)
        ids = await self.overlaps.collect(session, key, doc["_id"], doc["project_id"])
        if len(ids) < project.overlap:
            return None
        members = await self.submissions.members(ids, session)
        outcome = overlap_outcome(project, doc, members)
        await self.overlaps.clear(session, key)
        now = utcnow()
        if outcome.accepted:
            await self.submissions.settle(session, members, outcome.per_annotator, None, now)
            first = members[0]
            event = domain.accepted_event(
                first, None, outcome.answer, contributors=[m["annotator_id"] for m in members]
            )
            await self.outbox.add(session, domain.envelope(event, first["org_id"]))
            return None
        await self.submissions.mark_disputed(session, members, outcome.per_annotator)
        vendors = [m["vendor_id"] for m in members]
        majority = max(set(vendors), key=vendors.count)
        dispute = {
            "_id": domain.dispute_id(doc["item_id"], (doc.get("clip") or {}).get("index")),
            **{k: doc[k] for k in ("item_id", "project_id", "batch_id", "org_id")},
            **{k: doc[k] for k in ("task_id", "ontology_version", "image")},
            "clip": doc.get("clip"),
            "annotator_id": "consensus",
            "vendor_id": majority,
            "queue": domain.review_queue(project, majority),
            "member_ids": [m["_id"] for m in members],
            "merged": outcome.answer.annotation.model_dump(mode="json"),
            **_dumped(tracks=outcome.answer.tracks, transcript=outcome.answer.transcript),
            "agreement": outcome.agreement,
            "identity_switches": outcome.identity_switches,
            "status": "pending",
            "queued_at": now,
            "lease": None,
        }
        await self.units.add_dispute(session, dispute)
        return dispute


def _dumped(**values: BaseModel | None) -> Doc:
    return {k: v.model_dump(mode="json") if v is not None else None for k, v in values.items()}


@dataclass(frozen=True)
class OverlapOutcome:
    accepted: bool
    answer: domain.Answer  # merged: shapes, a clip's tracks or a part's transcript
    agreement: float
    per_annotator: tuple[float, ...]
    identity_switches: int = 0


def overlap_outcome(project: ProjectUpserted, doc: Doc, members: list[Doc]) -> OverlapOutcome:
    """Consensus over an item's shapes, a clip's tracks or a part's transcripts."""
    policy = project.review
    media = domain.unit_media(doc)
    if media == "audio":
        speech = speech_consensus(
            [Transcript.model_validate(m.get("transcript") or {}) for m in members],
            domain.part_seconds(doc),
            match_threshold=policy.match_threshold,
            min_agreement=policy.min_agreement,
            max_wer=policy.max_wer,
        )
        return OverlapOutcome(
            speech.accepted,
            domain.Answer(transcript=speech.merged),
            speech.agreement,
            speech.per_annotator,
        )
    if media == "video":
        tracks = track_consensus(
            [TrackAnnotation.model_validate(m.get("tracks") or {}) for m in members],
            domain.clip_frames(doc),
            threshold=policy.match_threshold,
        )
        return OverlapOutcome(
            tracks.accepted(policy.min_agreement),
            domain.Answer(tracks=tracks.merged),
            tracks.agreement,
            tracks.per_annotator,
            tracks.identity_switches,
        )
    shapes = consensus(
        [Annotation.model_validate(m["annotation"]) for m in members],
        doc["image"]["width"],
        doc["image"]["height"],
        threshold=policy.match_threshold,
    )
    return OverlapOutcome(
        shapes.accepted(policy.min_agreement),
        domain.Answer(shapes.merged),
        shapes.agreement,
        shapes.per_annotator,
    )
