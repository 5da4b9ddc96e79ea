"""Appeals: an annotator's appeal of a rejection, kept on its submission (`appeal`, with
`appeal_status` and `appeal_queued_at` beside it for the queue's index). Once per rejection,
decided by a reviewer other than the one who rejected."""

from __future__ import annotations

from datetime import datetime

from services.review.repositories.units import QUEUE_FIELDS
from shared.errors import Conflict
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, utcnow


class AppealRepository:
    def __init__(self, db: ServiceDatabase) -> None:
        self.db = db
        self.submissions = db["submissions"]

    async def ensure_indexes(self) -> None:
        await self.submissions.create_index([("appeal_status", 1), ("appeal_queued_at", 1)])

    async def queued(self, since: datetime | None = None) -> list[Doc]:
        """Open appeals, queued by when they were made."""
        query: Doc = {"appeal_status": "open"}
        if since is not None:
            query["appeal_queued_at"] = {"$gt": since}
        docs = await self.submissions.find(query, QUEUE_FIELDS).to_list(None)
        return [{**d, "queued_at": d["appeal"]["at"]} for d in docs]

    async def open(self, sub: Doc, comment: str) -> Doc:
        """Appeal the rejection of `sub` (see `domain.check_appealable`), once."""
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

    async def claim(self, sub_id: str, reviewer_id: str) -> Doc | None:
        """Take an open appeal, unless this reviewer made the rejection."""
        return await self.db.modify(
            self.submissions,
            sub_id,
            {"$set": {"appeal_status": "in_review", "appeal.reviewer_id": reviewer_id}},
            lambda doc: (
                doc.get("appeal_status") == "open"
                and doc["appeal"].get("rejected_by") != reviewer_id
            ),
        )

    async def record_decision(
        self, session: AsyncClientSession, sub: Doc, reviewer_id: str, status: str, comment: str
    ) -> bool:
        """Upheld or overturned, if `reviewer_id` still has the appeal; False if not."""
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
        return result.matched_count > 0
