"""Review's data (database `<ns>_review`).

- `submissions`: every submitted task, its route, its decision and any appeal: also the facts
  scores and statements are counted from;
- `disputes`: items whose overlaps disagreed, waiting for a human (consensus mode);
- `overlaps`: which submissions of an item are in, while consensus waits for all of them;
- `annotators` and `outcomes`: per project and annotator, what sampling needs (how many
  submitted; the recent human outcomes), apart so that recording submissions and deciding
  reviews never write the same document;
- `wages`: each vendor's minimum hourly wage.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne

from services.review import domain
from services.review.consensus import Consensus, consensus, match_score
from shared.domain.projects import ProjectReadModel
from shared.errors import Conflict, NotFound, RetryLater
from shared.events import (
    Annotation,
    Envelope,
    EventData,
    GoldUpdated,
    ItemAccepted,
    ProjectUpserted,
    TaskRejected,
    TaskSubmitted,
)
from shared.observability import correlation_id
from shared.runtime import Runtime
from shared.store.mongo import AsyncClientSession, Doc, modify_by_id, utcnow

REVIEW_LEASE_S = 600
PROJECT_CACHE_S = 5.0
QUEUE_FIELDS = {"vendor_id": 1, "queue": 1, "queued_at": 1, "appeal": 1, "reviewer_id": 1}


def review_queue(project: ProjectUpserted, vendor_id: str) -> str:
    """Whose reviewers see the work: the vendor's, or the client's when the project says so."""
    return project.org_id if project.review.reviewed_by == "client" else vendor_id


def accepted_event(
    unit: Doc,
    reviewer_id: str | None,
    annotation: Annotation | dict[str, Any] | None = None,
    contributors: Sequence[str] = (),
) -> ItemAccepted:
    return ItemAccepted(
        item_id=unit["item_id"],
        project_id=unit["project_id"],
        batch_id=unit["batch_id"],
        org_id=unit["org_id"],
        task_id=unit["task_id"],
        submission_id=unit["_id"],
        annotator_id=unit["annotator_id"],
        reviewer_id=reviewer_id,
        ontology_version=unit["ontology_version"],
        image=unit["image"],
        annotation=annotation if annotation is not None else unit["annotation"],
        contributors=tuple(contributors),
    )


def queue_of(doc: Doc) -> str:
    """The organisation whose reviewers see a unit (and its appeal)."""
    return str(doc.get("queue") or doc["vendor_id"])


def day_of(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


class ReviewStore:
    """All of review's Mongo calls."""

    def __init__(self, runtime: Runtime) -> None:
        self.db = runtime.db
        self.outbox = runtime.outbox
        self.audit = runtime.audit
        self.projects = ProjectReadModel(runtime.db)
        self.submissions = runtime.db["submissions"]
        self.disputes = runtime.db["disputes"]
        self.overlaps = runtime.db["overlaps"]
        self.annotators = runtime.db["annotators"]
        self.outcomes = runtime.db["outcomes"]
        self.wages = runtime.db["wages"]
        self.gold = runtime.db["gold"]

    async def ensure_indexes(self) -> None:
        await self.submissions.create_index([("status", 1), ("queued_at", 1)])
        await self.submissions.create_index([("appeal_status", 1), ("appeal_queued_at", 1)])
        await self.submissions.create_index([("annotator_id", 1), ("created_at", 1)])
        await self.submissions.create_index([("vendor_id", 1), ("created_at", 1)])
        await self.submissions.create_index([("project_id", 1), ("created_at", 1)])
        await self.disputes.create_index([("status", 1), ("queued_at", 1)])
        # A reviewer's unit in review, found again after a restart (see `held_by_reviewer`).
        await self.submissions.create_index([("lease.reviewer_id", 1)])
        await self.disputes.create_index([("lease.reviewer_id", 1)])
        await self.submissions.create_index([("item_id", 1)])
        await self.gold.create_index([("project_id", 1)])

    def _envelope(self, event: EventData, *org_ids: str) -> Envelope:
        return Envelope.wrap(event, org_ids=org_ids, correlation_id=correlation_id.get())

    async def project(self, project_id: str) -> ProjectUpserted:
        project = await self.projects.get(project_id)
        if project is None:
            raise NotFound("project")
        return project

    # ----- events in -----------------------------------------------------------------------

    async def receive_many(
        self, session: AsyncClientSession, events: Sequence[TaskSubmitted]
    ) -> None:
        """Record submissions and route each: accepted now, queued for a human, or held for
        consensus with the item's other overlaps. Many share one transaction."""
        projects: dict[str, ProjectUpserted] = {}
        for project_id in {e.project_id for e in events}:
            project = await self.projects.get(project_id, max_age_s=PROJECT_CACHE_S)
            if project is None:
                raise RetryLater(f"project {project_id} not known yet")
            projects[project_id] = project
        record_ids = [f"{e.project_id}|{e.annotator_id}" for e in events]
        wanted = {"_id": {"$in": list(set(record_ids))}}
        records: dict[str, Doc] = {}
        for collection in (self.annotators, self.outcomes):
            for r in await collection.find(wanted, session=session).to_list(None):
                records.setdefault(r["_id"], {}).update(r)
        counted: dict[str, int] = {}  # submissions earlier in this group, per record
        now = utcnow()
        docs: list[Doc] = []
        accepted: list[Envelope] = []
        golds = await self._gold_answers(session, events)
        for event, record_id in zip(events, record_ids, strict=True):
            if event.gold_id is not None:
                docs.append(self._scored_gold(event, golds.get(event.gold_id), now))
                continue
            record = records.get(record_id, {})
            before = record.get("submitted", 0) + counted.get(record_id, 0)
            counted[record_id] = counted.get(record_id, 0) + 1
            route = domain.route_submission(
                projects[event.project_id].review,
                event.submission_id,
                domain.AnnotatorRecord(before, tuple(record.get("recent", ()))),
            )
            doc: Doc = {
                "_id": event.submission_id,
                **event.model_dump(mode="json", exclude={"submission_id"}),
                "created_at": now,
                "day": day_of(now),
                "route": route,
                "lease": None,
                "appeal": None,
            }
            if route == "accept":
                doc.update(status="accepted", outcome="accepted", credit=1.0, decided_at=now)
                accepted.append(self._envelope(accepted_event(doc, None), event.org_id))
            elif route == "human":
                project = projects[event.project_id]
                doc.update(
                    status="pending", queued_at=now, queue=review_queue(project, event.vendor_id)
                )
            else:
                doc.update(status="waiting")
            docs.append(doc)
        await self.submissions.insert_many(docs, session=session)
        if counted:
            await self.annotators.bulk_write(
                [
                    UpdateOne({"_id": record_id}, {"$inc": {"submitted": n}}, upsert=True)
                    for record_id, n in counted.items()
                ],
                session=session,
            )
        await self.outbox.add(session, *accepted)
        for doc in docs:
            if doc["route"] == "consensus":
                await self._collect_overlap(session, projects[doc["project_id"]], doc)

    async def _gold_answers(
        self, session: AsyncClientSession, events: Sequence[TaskSubmitted]
    ) -> dict[str, Doc]:
        ids = list({e.gold_id for e in events if e.gold_id is not None})
        if not ids:
            return {}
        docs = await self.gold.find({"_id": {"$in": ids}}, session=session).to_list(None)
        return {d["_id"]: d for d in docs}

    def _scored_gold(self, event: TaskSubmitted, gold: Doc | None, now: datetime) -> Doc:
        """A gold task is scored against its known answer at once; it is never delivered."""
        if gold is None:
            raise RetryLater(f"gold {event.gold_id} not known")
        score = match_score(
            Annotation.model_validate(gold["answer"]),
            event.annotation,
            event.image.width,
            event.image.height,
        )
        return {
            "_id": event.submission_id,
            **event.model_dump(mode="json", exclude={"submission_id"}),
            "created_at": now,
            "day": day_of(now),
            "route": "gold",
            "status": "gold_scored",
            "outcome": None,
            "gold_score": score,
            "decided_at": now,
            "lease": None,
            "appeal": None,
        }

    # ----- gold ----------------------------------------------------------------------------

    async def seen_item(self, project_id: str, item_id: str) -> Doc:
        """A submission of this item in this project: how review knows the item's image."""
        seen: Doc | None = await self.submissions.find_one(
            {"item_id": item_id, "project_id": project_id}
        )
        if seen is None:
            raise NotFound("item")
        return seen

    async def add_gold(
        self, project: ProjectUpserted, seen: Doc, answer: Annotation, by: str
    ) -> Doc:
        """Mark an item with its known answer, and tell dispatch."""
        item_id = seen["item_id"]
        gold = {
            "_id": "gld_" + secrets.token_hex(10),
            "project_id": project.project_id,
            "org_id": project.org_id,
            "item_id": item_id,
            "image": seen["image"],
            "ontology_version": project.version,
            "answer": answer.model_dump(mode="json"),
            "active": True,
            "created_by": by,
            "created_at": utcnow(),
        }

        async def work(session: AsyncClientSession) -> None:
            await self.gold.insert_one(gold, session=session)
            await self.outbox.add(session, self._envelope(self._gold_event(gold), gold["org_id"]))
            await self.audit.record(session, "gold.added", gold["_id"], orgs=[gold["org_id"]])

        await self.db.transaction(work)
        self.outbox.notify()
        return gold

    def _gold_event(self, gold: Doc) -> GoldUpdated:
        return GoldUpdated(
            gold_id=gold["_id"],
            project_id=gold["project_id"],
            org_id=gold["org_id"],
            item_id=gold["item_id"],
            image=gold["image"],
            ontology_version=gold["ontology_version"],
            active=gold["active"],
        )

    async def list_gold(self, project_id: str) -> list[Doc]:
        return await self.gold.find({"project_id": project_id}).to_list(None)

    async def retire_gold(self, project_id: str, gold_id: str) -> None:
        async def work(session: AsyncClientSession) -> None:
            gold = await modify_by_id(
                self.gold,
                gold_id,
                {"$set": {"active": False}},
                session=session,
                when=lambda doc: doc["project_id"] == project_id,
            )
            if gold is None:
                raise NotFound("gold item")
            await self.outbox.add(session, self._envelope(self._gold_event(gold), gold["org_id"]))
            await self.audit.record(session, "gold.retired", gold_id, orgs=[gold["org_id"]])

        await self.db.transaction(work)
        self.outbox.notify()

    async def _collect_overlap(
        self, session: AsyncClientSession, project: ProjectUpserted, doc: Doc
    ) -> None:
        """Once every overlap of the item is in: merge when they agree, else a dispute."""
        waiting = await modify_by_id(
            self.overlaps,
            doc["item_id"],
            {"$addToSet": {"submission_ids": doc["_id"]}},
            upsert=True,
            session=session,
        )
        assert waiting is not None  # upserted
        ids = waiting["submission_ids"]
        if len(ids) < project.overlap:
            return
        members = await self.submissions.find({"_id": {"$in": ids}}, session=session).to_list(None)
        members.sort(key=lambda m: m["_id"])
        result = consensus(
            [Annotation.model_validate(m["annotation"]) for m in members],
            doc["image"]["width"],
            doc["image"]["height"],
            threshold=project.review.match_threshold,
        )
        await self.overlaps.delete_one({"_id": doc["item_id"]}, session=session)
        now = utcnow()
        if result.accepted(project.review.min_agreement):
            await self._settle_members(session, members, result, None, now)
            first = members[0]
            event = accepted_event(
                first, None, result.merged, contributors=[m["annotator_id"] for m in members]
            )
            await self.outbox.add(session, self._envelope(event, first["org_id"]))
            return
        for member, agreement in zip(members, result.per_annotator, strict=True):
            await self.submissions.update_one(
                {"_id": member["_id"]},
                {"$set": {"status": "disputed", "agreement": agreement}},
                session=session,
            )
        vendors = [m["vendor_id"] for m in members]
        majority = max(set(vendors), key=vendors.count)
        await self.disputes.insert_one(
            {
                "_id": f"cns_{doc['item_id']}",
                **{k: doc[k] for k in ("item_id", "project_id", "batch_id", "org_id")},
                **{k: doc[k] for k in ("task_id", "ontology_version", "image")},
                "annotator_id": "consensus",
                "vendor_id": majority,
                "queue": review_queue(project, majority),
                "member_ids": [m["_id"] for m in members],
                "merged": result.merged.model_dump(mode="json"),
                "agreement": result.agreement,
                "status": "pending",
                "queued_at": now,
                "lease": None,
            },
            session=session,
        )

    async def _settle_members(
        self,
        session: AsyncClientSession,
        members: list[Doc],
        result: Consensus,
        reviewer_id: str | None,
        now: datetime,
    ) -> None:
        """Each overlap's outcome: accepted when it agreed with the final annotation, else a
        partial accept worth its share of agreed shapes."""
        for member, agreement in zip(members, result.per_annotator, strict=True):
            outcome = "accepted" if agreement >= 0.999 else "corrected"
            await self.submissions.update_one(
                {"_id": member["_id"]},
                {
                    "$set": {
                        "status": outcome,
                        "outcome": outcome,
                        "credit": agreement,
                        "agreement": agreement,
                        "reviewer_id": reviewer_id,
                        "decided_at": now,
                    }
                },
                session=session,
            )

    # ----- queues --------------------------------------------------------------------------

    async def queued(self, since: datetime | None = None) -> list[Doc]:
        """Review units waiting for a human (submissions and disputes)."""
        query: Doc = {"status": "pending"}
        if since is not None:
            query["queued_at"] = {"$gt": since}
        subs = await self.submissions.find(query, QUEUE_FIELDS).to_list(None)
        disputes = await self.disputes.find(query, QUEUE_FIELDS).to_list(None)
        return subs + disputes

    async def queued_appeals(self, since: datetime | None = None) -> list[Doc]:
        query: Doc = {"appeal_status": "open"}
        if since is not None:
            query["appeal_queued_at"] = {"$gt": since}
        docs = await self.submissions.find(query, QUEUE_FIELDS).to_list(None)
        return [{**d, "queued_at": d["appeal"]["at"]} for d in docs]

    async def load_units(self, ids: Sequence[str]) -> list[Doc]:
        subs = [i for i in ids if not i.startswith("cns_")]
        found = await self.submissions.find({"_id": {"$in": subs}}).to_list(None) if subs else []
        cns = [i for i in ids if i.startswith("cns_")]
        if cns:
            found += await self.disputes.find({"_id": {"$in": cns}}).to_list(None)
        return found

    def _collection_of(self, unit_id: str) -> Any:
        return self.disputes if unit_id.startswith("cns_") else self.submissions

    async def claim(self, unit_id: str, reviewer_id: str) -> Doc | None:
        """Take a unit for review (or retake one whose review lease ran out)."""
        now = utcnow()

        def free(unit: Doc) -> bool:
            return bool(
                unit["status"] == "pending"
                or (unit["status"] == "in_review" and unit["lease"]["expires_at"] < now)
            )

        return await self.db.modify(
            self._collection_of(unit_id),
            unit_id,
            {
                "$set": {
                    "status": "in_review",
                    "lease": {
                        "reviewer_id": reviewer_id,
                        "expires_at": now + timedelta(seconds=REVIEW_LEASE_S),
                    },
                }
            },
            free,
        )

    async def expired_reviews(self) -> list[Doc]:
        """Units whose reviewer went away: back in the queue."""
        now = utcnow()
        freed = []
        for collection in (self.submissions, self.disputes):
            docs = await collection.find({"status": "in_review"}, {"lease": 1}).to_list(None)
            for doc in docs:
                if doc["lease"]["expires_at"] < now:

                    def still_held(unit: Doc, held: Doc = doc["lease"]) -> bool:
                        return bool(unit["status"] == "in_review" and unit["lease"] == held)

                    result = await self.db.modify(
                        collection,
                        doc["_id"],
                        {"$set": {"status": "pending", "lease": None, "queued_at": now}},
                        still_held,
                    )
                    if result is not None:
                        freed.append(result)
        return freed

    async def held_by(self, unit_id: str, reviewer_id: str) -> Doc | None:
        """The unit, if `reviewer_id` holds its review lease now."""
        unit: Doc | None = await self._collection_of(unit_id).find_one(
            {
                "_id": unit_id,
                "status": "in_review",
                "lease.reviewer_id": reviewer_id,
                "lease.expires_at": {"$gt": utcnow()},
            }
        )
        return unit

    async def held_by_reviewer(self, vendor_id: str, reviewer_id: str) -> Doc | None:
        """A unit of this vendor that `reviewer_id` holds in review now, if any: the claim's
        answer may have been lost (a restart, a dropped connection) with the unit taken."""
        for collection in (self.submissions, self.disputes):
            docs = await collection.find(
                {
                    "lease.reviewer_id": reviewer_id,
                    "status": "in_review",
                    "lease.expires_at": {"$gt": utcnow()},
                }
            ).to_list(None)
            for doc in docs:
                if queue_of(doc) == vendor_id:
                    return dict(doc)
        return None

    async def get_unit(self, vendor_id: str, unit_id: str) -> Doc:
        doc: Doc | None = await self._collection_of(unit_id).find_one({"_id": unit_id})
        if doc is None or queue_of(doc) != vendor_id:
            raise NotFound("review")
        return doc

    async def members(self, dispute: Doc) -> list[Doc]:
        docs = await self.submissions.find({"_id": {"$in": dispute["member_ids"]}}).to_list(None)
        return sorted(docs, key=lambda m: m["_id"])

    # ----- decisions -----------------------------------------------------------------------

    async def _decide(
        self,
        unit: Doc,
        reviewer_id: str,
        fields: Doc,
        event: EventData,
        more: Any = None,
    ) -> None:
        """Decide once: the decision, its event (and `more(session)`) commit together."""

        async def work(session: AsyncClientSession) -> None:
            result = await self._collection_of(unit["_id"]).update_one(
                {"_id": unit["_id"], "status": "in_review", "lease.reviewer_id": reviewer_id},
                {"$set": {**fields, "reviewer_id": reviewer_id, "decided_at": utcnow()}},
                session=session,
            )
            if result.matched_count == 0:
                raise Conflict("not_in_review", "this is not under your review")
            if more is not None:
                await more(session)
            await self.outbox.add(session, self._envelope(event, unit["org_id"], unit["vendor_id"]))
            await self.audit.record(
                session,
                f"review.{fields['status']}",
                unit["_id"],
                orgs=[unit["org_id"], unit["vendor_id"]],
                details={"reason": fields["rejection"]["reason"]} if "rejection" in fields else {},
            )

        await self.db.transaction(work)
        self.outbox.notify()

    async def _remember(self, session: AsyncClientSession, sub: Doc, score: float) -> None:
        """The annotator's recent human outcomes, which raise their sampling rate if low."""
        await self.outcomes.update_one(
            {"_id": f"{sub['project_id']}|{sub['annotator_id']}"},
            {"$push": {"recent": {"$each": [score], "$slice": -domain.RECENT_WINDOW}}},
            upsert=True,
            session=session,
        )

    async def accept(self, sub: Doc, reviewer_id: str) -> None:
        async def more(session: AsyncClientSession) -> None:
            await self._remember(session, sub, 1.0)

        fields = {"status": "accepted", "outcome": "accepted", "credit": 1.0}
        await self._decide(sub, reviewer_id, fields, accepted_event(sub, reviewer_id), more)

    async def reject(self, sub: Doc, reviewer_id: str, reason: str, comment: str) -> None:
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
        )

        async def more(session: AsyncClientSession) -> None:
            await self._remember(session, sub, 0.0)

        fields = {
            "status": "rejected",
            "outcome": "rejected",
            "credit": 0.0,
            "rejection": {"reason": reason, "comment": comment},
        }
        await self._decide(sub, reviewer_id, fields, event, more)

    async def correct(self, sub: Doc, reviewer_id: str, annotation: Annotation) -> float:
        """The reviewer's shapes become final; the annotator gets partial credit: how well
        their shapes match the correction (an F1: extra shapes and missed ones both count)."""
        original = Annotation.model_validate(sub["annotation"])
        credit = match_score(annotation, original, sub["image"]["width"], sub["image"]["height"])

        async def more(session: AsyncClientSession) -> None:
            await self._remember(session, sub, credit)

        fields = {
            "status": "corrected",
            "outcome": "corrected",
            "credit": credit,
            "correction": annotation.model_dump(mode="json"),
        }
        event = accepted_event(sub, reviewer_id, annotation)
        await self._decide(sub, reviewer_id, fields, event, more)
        return credit

    async def settle_dispute(
        self, dispute: Doc, reviewer_id: str, annotation: Annotation | None
    ) -> None:
        """A human settles a disputed item: the merged agreed shapes (`annotation` None) or
        the reviewer's own; every overlap is credited by its agreement with the result."""
        members = await self.members(dispute)
        final = annotation or Annotation.model_validate(dispute["merged"])
        image = dispute["image"]
        versions = [Annotation.model_validate(m["annotation"]) for m in members]
        credits = [match_score(final, v, image["width"], image["height"]) for v in versions]
        scored = Consensus(final, dispute["agreement"], tuple(credits), 0, 0)

        async def more(session: AsyncClientSession) -> None:
            await self._settle_members(session, members, scored, reviewer_id, utcnow())

        event = accepted_event(
            dispute, reviewer_id, final, contributors=[m["annotator_id"] for m in members]
        )
        fields = {"status": "accepted", "final": final.model_dump(mode="json")}
        await self._decide(dispute, reviewer_id, fields, event, more)

    # ----- appeals -------------------------------------------------------------------------

    async def appeal(self, sub: Doc, annotator_id: str, comment: str) -> Doc:
        """An annotator appeals a rejection of their own work, once."""
        if sub["annotator_id"] != annotator_id:
            raise NotFound("submission")
        if sub.get("outcome") != "rejected":
            raise Conflict("not_rejected", "only a rejected submission can be appealed")
        now = utcnow()
        appeal = {
            "status": "open",
            "comment": comment,
            "at": now,
            "rejected_by": sub["reviewer_id"],
        }
        done = await self.db.modify(
            self.submissions,
            sub["_id"],
            {"$set": {"appeal": appeal, "appeal_status": "open", "appeal_queued_at": now}},
            lambda doc: doc.get("appeal") is None,
        )
        if done is None:
            raise Conflict("already_appealed", "a rejection can be appealed once")
        return done

    async def get_own_submission(self, vendor_id: str, submission_id: str) -> Doc:
        doc = await self.submissions.find_one({"_id": submission_id})
        if doc is None or doc["vendor_id"] != vendor_id:
            raise NotFound("submission")
        doc.setdefault("appeal", None)
        return doc

    async def claim_appeal(self, sub_id: str, reviewer_id: str) -> Doc | None:
        return await self.db.modify(
            self.submissions,
            sub_id,
            {"$set": {"appeal_status": "in_review", "appeal.reviewer_id": reviewer_id}},
            lambda doc: (
                doc.get("appeal_status") == "open"
                and doc["appeal"].get("rejected_by") != reviewer_id
            ),
        )

    async def decide_appeal(self, sub: Doc, reviewer_id: str, overturn: bool, comment: str) -> None:
        """A different reviewer upholds or overturns; overturned, the work counts as accepted
        for the annotator's scores and pay (the item itself has been reworked meanwhile)."""
        status = "overturned" if overturn else "upheld"

        async def work(session: AsyncClientSession) -> None:
            result = await self.submissions.update_one(
                {
                    "_id": sub["_id"],
                    "appeal_status": "in_review",
                    "appeal.reviewer_id": reviewer_id,
                },
                {
                    "$set": {
                        "appeal_status": status,
                        "appeal.status": status,
                        "appeal.decision_comment": comment,
                        "appeal.decided_at": utcnow(),
                    }
                },
                session=session,
            )
            if result.matched_count == 0:
                raise Conflict("not_in_review", "this appeal is not under your review")
            if overturn:
                await self._remember(session, sub, 1.0)
            await self.audit.record(
                session, f"appeal.{status}", sub["_id"], orgs=[sub["org_id"], sub["vendor_id"]]
            )

        await self.db.transaction(work)

    # ----- figures -------------------------------------------------------------------------

    async def facts(self, query: Doc) -> list[Doc]:
        """Submissions matching `query`, with the fields figures are counted from."""
        fields = {
            name: 1
            for name in (
                "project_id",
                "org_id",
                "vendor_id",
                "annotator_id",
                "day",
                "outcome",
                "credit",
                "agreement",
                "gold_score",
                "rework",
                "seconds_worked",
                "appeal",
            )
        }
        return await self.submissions.find(query, fields).to_list(None)

    async def minimum_wage(self, vendor_id: str) -> float | None:
        doc = await self.wages.find_one({"_id": vendor_id})
        return float(doc["hourly"]) if doc else None

    async def set_minimum_wage(self, vendor_id: str, hourly: float) -> None:
        async def work(session: AsyncClientSession) -> None:
            await self.wages.update_one(
                {"_id": vendor_id},
                {"$set": {"hourly": hourly, "at": utcnow()}},
                upsert=True,
                session=session,
            )
            await self.audit.record(
                session, "minimum_wage.set", vendor_id, details={"hourly": hourly}
            )

        await self.db.transaction(work)
