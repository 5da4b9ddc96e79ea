"""Review units: what a reviewer takes, a submission or a consensus dispute (`cns_<item>`).

Both collections carry the same queue fields (`status`, `queued_at`, `queue`, `lease`), so the
queue, the review leases and the recording of a decision read either by the unit's id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from services.review.domain import dispute_id, queue_of
from shared.errors import NotFound
from shared.events import ItemDropped
from shared.store.mongo import (
    AsyncClientSession,
    AsyncCollection,
    Doc,
    ServiceDatabase,
    as_stored,
    drop_index_if_present,
    utcnow,
)

REVIEW_LEASE_S = 600
# A unit a reviewer may still take or is deciding.
OPEN = ("pending", "in_review")
QUEUE_FIELDS = {"vendor_id": 1, "queue": 1, "queued_at": 1, "appeal": 1, "reviewer_id": 1}


def is_dispute(unit_id: str) -> bool:
    return unit_id.startswith("cns_")


class UnitRepository:
    def __init__(self, db: ServiceDatabase) -> None:
        self.db = db
        self.submissions = db["submissions"]
        self.disputes = db["disputes"]

    async def ensure_indexes(self) -> None:
        await self.submissions.create_index([("status", 1), ("queued_at", 1)])
        await self.disputes.create_index([("status", 1), ("queued_at", 1)])
        # A reviewer's unit in review, found again after a restart (see `held_by_reviewer`).
        # Partial: a decided unit keeps its lease, so an index of every lease held a
        # reviewer's whole history and each `next` read all of it (217 ms at 20,000 units).
        for collection in (self.submissions, self.disputes):
            await drop_index_if_present(collection, "lease.reviewer_id_1")  # made by 0.2.0
            await collection.create_index(
                [("lease.reviewer_id", 1)],
                name="in_review_by_reviewer",
                partialFilterExpression={"status": "in_review"},
            )

    def _collection_of(self, unit_id: str) -> AsyncCollection[Doc]:
        return self.disputes if is_dispute(unit_id) else self.submissions

    async def queued(self, since: datetime | None = None) -> list[Doc]:
        """Units waiting for a human (submissions and disputes)."""
        query: Doc = {"status": "pending"}
        if since is not None:
            query["queued_at"] = {"$gt": since}
        subs = await self.submissions.find(query, QUEUE_FIELDS).to_list(None)
        disputes = await self.disputes.find(query, QUEUE_FIELDS).to_list(None)
        return subs + disputes

    async def load(self, ids: Sequence[str]) -> list[Doc]:
        subs = [i for i in ids if not is_dispute(i)]
        found = await self.submissions.find({"_id": {"$in": subs}}).to_list(None) if subs else []
        cns = [i for i in ids if is_dispute(i)]
        if cns:
            found += await self.disputes.find({"_id": {"$in": cns}}).to_list(None)
        return found

    async def get(self, vendor_id: str, unit_id: str) -> Doc:
        """A unit the vendor's reviewers see; 404 otherwise."""
        doc: Doc | None = await self._collection_of(unit_id).find_one({"_id": unit_id})
        if doc is None or queue_of(doc) != vendor_id:
            raise NotFound("review")
        return doc

    async def claim(self, unit_id: str, reviewer_id: str, whole: Doc | None = None) -> Doc | None:
        """Take a unit for review (or retake one whose review lease ran out). `whole`: the
        unit as this process queued it, if it did; a pending unit changes only its status
        and lease, so taking it needs no read."""
        now = utcnow()
        collection = self._collection_of(unit_id)
        update = {
            "$set": {
                "status": "in_review",
                "lease": {
                    "reviewer_id": reviewer_id,
                    "expires_at": now + timedelta(seconds=REVIEW_LEASE_S),
                },
            }
        }
        if whole is not None:

            async def take_pending(session: AsyncClientSession) -> bool:
                query = {"_id": unit_id, "status": "pending"}
                result = await collection.update_one(query, update, session=session)
                return result.matched_count > 0

            if await self.db.transaction(take_pending):
                return as_stored(collection, {**whole, **update["$set"]})

        def free(unit: Doc) -> bool:
            return bool(
                unit["status"] == "pending"
                or (unit["status"] == "in_review" and unit["lease"]["expires_at"] < now)
            )

        return await self.db.modify(collection, unit_id, update, free)

    async def requeue_expired(self) -> list[Doc]:
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

    async def record_decision(
        self, session: AsyncClientSession, unit: Doc, reviewer_id: str, fields: Doc
    ) -> bool:
        """Write the decision if `reviewer_id` still has the unit in review; False if not."""
        result = await self._collection_of(unit["_id"]).update_one(
            {"_id": unit["_id"], "status": "in_review", "lease.reviewer_id": reviewer_id},
            {"$set": {**fields, "reviewer_id": reviewer_id, "decided_at": utcnow()}},
            session=session,
        )
        return result.matched_count > 0

    async def add_dispute(self, session: AsyncClientSession, dispute: Doc) -> None:
        await self.disputes.insert_one(dispute, session=session)

    async def item_units(
        self, event: ItemDropped, session: AsyncClientSession | None = None
    ) -> list[str]:
        """Every unit of an item: its submissions (the item index) and its disputes (by id)."""
        clips = [None] if event.clips is None else list(range(event.clips))
        subs = await self.submissions.find(
            {"item_id": event.item_id}, {"_id": 1}, session=session
        ).to_list(None)
        return [d["_id"] for d in subs] + [dispute_id(event.item_id, c) for c in clips]

    async def drop_item(self, session: AsyncClientSession, event: ItemDropped) -> None:
        """The dropped item's units nobody has decided end as `dropped`: no decision on them
        is recorded any more, so nothing of the item is accepted after its drop."""
        ids = await self.item_units(event, session)
        for collection in (self.submissions, self.disputes):
            await collection.update_many(
                {"_id": {"$in": ids}, "status": {"$in": list(OPEN)}},
                {"$set": {"status": "dropped", "lease": None}},
                session=session,
            )
