"""A reviewer decides: accept, reject, correct, settle a dispute, or decide an appeal.

Each decision is one transaction over several repositories: the unit's decision (only while
the reviewer still holds it), the annotator's recent outcomes that sampling reads, each
overlap's outcome for a dispute, the event and the audit entry. Decided once: a second
attempt finds nothing in review and is refused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from services.review import domain
from services.review.onboarding import Onboarding
from services.review.repositories import (
    AnnotatorRepository,
    AppealRepository,
    SubmissionRepository,
    UnitRepository,
)
from shared.errors import Conflict
from shared.events import EventData, TaskRejected
from shared.messaging.outbox import Outbox
from shared.security.audit import AuditLog
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, utcnow

More = Callable[[AsyncClientSession], Awaitable[None]]


class Decisions:
    def __init__(
        self,
        db: ServiceDatabase,
        outbox: Outbox,
        audit: AuditLog,
        units: UnitRepository,
        submissions: SubmissionRepository,
        annotators: AnnotatorRepository,
        appeals: AppealRepository,
        onboarding: Onboarding,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.audit = audit
        self.units = units
        self.submissions = submissions
        self.annotators = annotators
        self.appeals = appeals
        self.onboarding = onboarding

    async def _decide(
        self, unit: Doc, reviewer_id: str, fields: Doc, event: EventData, more: More
    ) -> None:
        """Decide once: the decision, its event and `more(session)` commit together."""

        async def work(session: AsyncClientSession) -> None:
            if not await self.units.record_decision(session, unit, reviewer_id, fields):
                raise Conflict("not_in_review", "this is not under your review")
            await more(session)
            await self.outbox.add(
                session, domain.envelope(event, unit["org_id"], unit["vendor_id"])
            )
            await self.audit.record(
                session,
                f"review.{fields['status']}",
                unit["_id"],
                orgs=[unit["org_id"], unit["vendor_id"]],
                details={"reason": fields["rejection"]["reason"]} if "rejection" in fields else {},
            )

        await self.db.transaction(work)
        self.outbox.notify()

    def _remembering(self, sub: Doc, score: float) -> More:
        async def more(session: AsyncClientSession) -> None:
            await self.annotators.remember(session, sub, score)
            await self.onboarding.outcome(session, sub, score)  # skill (onboarding.py)

        return more

    async def accept(self, sub: Doc, reviewer_id: str) -> None:
        fields = {"status": "accepted", "outcome": "accepted", "credit": 1.0}
        event = domain.accepted_event(sub, reviewer_id)
        await self._decide(sub, reviewer_id, fields, event, self._remembering(sub, 1.0))

    async def reject(
        self,
        sub: Doc,
        reviewer_id: str,
        reason: str,
        comment: str,
        track_id: str | None = None,
        frames: tuple[int, int] | None = None,
        segment_id: str | None = None,
    ) -> None:
        event = TaskRejected(
            task_id=sub["task_id"],
            submission_id=sub["_id"],
            item_id=sub["item_id"],
            project_id=sub["project_id"],
            org_id=sub["org_id"],
            vendor_id=sub["vendor_id"],
            annotator_id=sub["annotator_id"],
            reviewer_id=reviewer_id,
            reason=reason,
            comment=comment,
            track_id=track_id,
            frames=frames,
            segment_id=segment_id,
        )
        rejection: Doc = {"reason": reason, "comment": comment}
        if track_id is not None or frames is not None:
            rejection.update(track_id=track_id, frames=list(frames) if frames else None)
        if segment_id is not None:
            rejection["segment_id"] = segment_id
        fields = {
            "status": "rejected",
            "outcome": "rejected",
            "credit": 0.0,
            "rejection": rejection,
        }
        await self._decide(sub, reviewer_id, fields, event, self._remembering(sub, 0.0))

    async def correct(self, sub: Doc, reviewer_id: str, answer: domain.Answer) -> float:
        """The reviewer's answer (shapes, a clip's tracks, a part's transcript) becomes final;
        the annotator gets partial credit: how well their work matches the correction (an F1:
        extra and missed shapes, tracks or segments both count)."""
        credit = domain.credit_against(sub, answer)
        fields: Doc = {"status": "corrected", "outcome": "corrected", "credit": credit}
        fields.update(answer.fields("correction"))
        event = domain.accepted_event(sub, reviewer_id, answer)
        await self._decide(sub, reviewer_id, fields, event, self._remembering(sub, credit))
        return credit

    async def settle_dispute(
        self, dispute: Doc, reviewer_id: str, answer: domain.Answer | None
    ) -> None:
        """A human settles a disputed item, clip or part: with what the annotators agreed on
        (`answer` None) or the reviewer's own; every overlap is credited by its agreement
        with the result."""
        members = await self.submissions.members(dispute["member_ids"])
        final = answer if answer is not None else domain.Answer.of(dispute, "merged")
        credits = tuple(domain.credit_against(m, final) for m in members)

        async def more(session: AsyncClientSession) -> None:
            await self.submissions.settle(session, members, credits, reviewer_id, utcnow())

        event = domain.accepted_event(
            dispute, reviewer_id, final, contributors=[m["annotator_id"] for m in members]
        )
        fields: Doc = {"status": "accepted", **final.fields("final")}
        await self._decide(dispute, reviewer_id, fields, event, more)

    async def decide_appeal(self, sub: Doc, reviewer_id: str, overturn: bool, comment: str) -> None:
        """A different reviewer upholds or overturns; overturned, the work counts as accepted
        for the annotator's scores and pay (the item itself has been reworked meanwhile)."""
        status = "overturned" if overturn else "upheld"

        async def work(session: AsyncClientSession) -> None:
            if not await self.appeals.record_decision(session, sub, reviewer_id, status, comment):
                raise Conflict("not_in_review", "this appeal is not under your review")
            if overturn:
                await self.annotators.remember(session, sub, 1.0)
            await self.audit.record(
                session, f"appeal.{status}", sub["_id"], orgs=[sub["org_id"], sub["vendor_id"]]
            )

        await self.db.transaction(work)
