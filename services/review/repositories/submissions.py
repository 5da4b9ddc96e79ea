"""Submissions: every submitted task, its route (accepted at once, to a human, waiting for its
overlaps, gold) and its outcome. What a reviewer does with one is `units.py`'s; its appeal is
`appeals.py`'s; the figures counted from them are `statements.py`'s."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.review.domain import queue_of
from shared.errors import NotFound
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase


class SubmissionRepository:
    def __init__(self, db: ServiceDatabase) -> None:
        self.submissions = db["submissions"]

    async def ensure_indexes(self) -> None:
        await self.submissions.create_index([("item_id", 1)])

    async def add(self, session: AsyncClientSession, docs: list[Doc]) -> None:
        await self.submissions.insert_many(docs, session=session)

    async def existing(self, ids: Sequence[str]) -> set[str]:
        """Which of these submissions are recorded (their events were taken in)."""
        found = self.submissions.find({"_id": {"$in": list(ids)}}, {"_id": 1})
        return {d["_id"] for d in await found.to_list(None)}

    async def members(
        self, ids: Sequence[str], session: AsyncClientSession | None = None
    ) -> list[Doc]:
        """The submissions of an item's overlaps, in id order."""
        docs = await self.submissions.find({"_id": {"$in": list(ids)}}, session=session).to_list(
            None
        )
        return sorted(docs, key=lambda m: m["_id"])

    async def seen_item(self, project_id: str, item_id: str, clip: int | None = None) -> Doc:
        """A submission of this item (or this clip of it) in this project: how review knows
        the item's image and the clip's frames."""
        query: Doc = {"item_id": item_id, "project_id": project_id}
        if clip is not None:
            query["clip.index"] = clip
        seen: Doc | None = await self.submissions.find_one(query)
        if seen is None:
            raise NotFound("item")
        return seen

    async def own(self, vendor_id: str, submission_id: str) -> Doc:
        """A submission of this vendor's people; 404 otherwise."""
        doc = await self.submissions.find_one({"_id": submission_id})
        if doc is None or doc["vendor_id"] != vendor_id:
            raise NotFound("submission")
        doc.setdefault("appeal", None)
        return doc

    async def mark_disputed(
        self, session: AsyncClientSession, members: list[Doc], agreements: Sequence[float]
    ) -> None:
        for member, agreement in zip(members, agreements, strict=True):
            await self.submissions.update_one(
                {"_id": member["_id"]},
                {"$set": {"status": "disputed", "agreement": agreement}},
                session=session,
            )

    async def settle(
        self,
        session: AsyncClientSession,
        members: list[Doc],
        agreements: Sequence[float],
        reviewer_id: str | None,
        now: datetime,
    ) -> None:
        """Each overlap's outcome: accepted when it agreed with the final annotation, else a
        partial accept worth its share of agreed shapes."""
        for member, agreement in zip(members, agreements, strict=True):
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

    async def of_annotator(self, vendor_id: str, annotator_id: str) -> list[Doc]:
        """Everything one person submitted for their vendor, with its review and appeal
        (their own export; the annotator index)."""
        query = {"annotator_id": annotator_id, "vendor_id": vendor_id}
        return await self.submissions.find(query).sort("created_at", 1).to_list(None)

    async def gold_scored(self, project_id: str, people: Doc, limit: int) -> list[Doc]:
        """A project's gold tasks as scored, newest first; `people` narrows them (a vendor,
        an annotator)."""
        query = {"project_id": project_id, "route": "gold", **people}
        return await self.submissions.find(query).sort("created_at", -1).to_list(limit)

    async def decided_by(self, org_id: str, reviewer_id: str) -> list[Doc]:
        """The submissions one reviewer of `org_id` decided (their own export: a scan)."""
        found = await self.submissions.find({"reviewer_id": reviewer_id}).to_list(None)
        return [doc for doc in found if queue_of(doc) == org_id]
