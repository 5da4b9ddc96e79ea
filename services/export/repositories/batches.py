"""The batches as export knows them from events: sealed or not, the item count, how many
items are accepted, and `seq`, the number the latest group of accepted items was given (a
delivery that read `seq` N holds every item numbered up to N)."""

from __future__ import annotations

from shared.errors import NotFound
from shared.events import BatchSealed, ItemAccepted, ItemDropped
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, modify_by_id, utcnow


class BatchRepository:
    def __init__(self, db: ServiceDatabase) -> None:
        self.batches = db["batches"]

    async def seal(self, session: AsyncClientSession, event: BatchSealed) -> Doc:
        """The batch, sealed with its item count, as this transaction leaves it."""
        batch = await modify_by_id(
            self.batches,
            event.batch_id,
            {
                "$set": {
                    "sealed": True,
                    "item_count": event.item_count,
                    # What must be accepted: an image is one unit, a video one a clip.
                    "unit_count": event.unit_count
                    if event.unit_count is not None
                    else event.item_count,
                },
                "$setOnInsert": {
                    "project_id": event.project_id,
                    "org_id": event.org_id,
                    "accepted_count": 0,
                    "seq": 0,
                },
            },
            upsert=True,
            session=session,
        )
        assert batch is not None  # upserted
        return batch

    async def number(self, session: AsyncClientSession, first: ItemAccepted, fresh: int) -> Doc:
        """Take the batch's next sequence number and count `fresh` more accepted items; the
        batch as this transaction leaves it (`first`: one of the group's events)."""
        batch = await modify_by_id(
            self.batches,
            first.batch_id,
            {
                "$inc": {"seq": 1, "accepted_count": fresh},
                "$setOnInsert": {
                    "project_id": first.project_id,
                    "org_id": first.org_id,
                    "sealed": False,
                    "item_count": None,
                },
            },
            upsert=True,
            session=session,
        )
        assert batch is not None
        return batch

    async def drop(
        self, session: AsyncClientSession, event: ItemDropped, units: int, accepted: int
    ) -> Doc:
        """Count an item's `units` as dropped (`accepted` of them no longer accepted) and list
        it for the manifest; the batch as this transaction leaves it."""
        batch = await modify_by_id(
            self.batches,
            event.batch_id,
            {
                "$inc": {"dropped_units": units, "accepted_count": -accepted},
                "$push": {
                    "dropped_items": {
                        "item_id": event.item_id,
                        "reason": event.reason,
                        "dropped_by": event.dropped_by,
                        "units": len(event.units()),
                        "at": utcnow().isoformat(),  # as the manifest writes it
                    }
                },
                "$setOnInsert": {
                    "project_id": event.project_id,
                    "org_id": event.org_id,
                    "sealed": False,
                    "item_count": None,
                    "seq": 0,
                },
            },
            upsert=True,
            session=session,
        )
        assert batch is not None  # upserted
        return batch

    async def uncount(
        self, session: AsyncClientSession, batch_id: str, units: int, accepted: int
    ) -> Doc | None:
        """A deleted item out of its batch: its units no longer to be accepted (once the
        batch is sealed), `accepted` of them no longer accepted; the batch as left."""
        await self.batches.update_one(
            {"_id": batch_id, "sealed": True},
            {"$inc": {"item_count": -1, "unit_count": -units}},
            session=session,
        )
        return await modify_by_id(
            self.batches, batch_id, {"$inc": {"accepted_count": -accepted}}, session=session
        )

    async def get(self, org_id: str | None, batch_id: str) -> Doc:
        """A batch, if `org_id` (None for the operator) may see it; else 404."""
        batch = await self.batches.find_one({"_id": batch_id})
        if batch is None or (org_id is not None and batch["org_id"] != org_id):
            raise NotFound("batch")
        return batch

    async def dropped(self, batch_id: str) -> tuple[Doc, ...]:
        """The items taken out of the batch, in the order they were dropped."""
        batch = await self.batches.find_one({"_id": batch_id}, {"dropped_items": 1})
        return tuple(batch.get("dropped_items", [])) if batch else ()

    async def seq(self, batch_id: str) -> int:
        """The batch's latest sequence number (0 before any item was accepted)."""
        batch = await self.batches.find_one({"_id": batch_id})
        return int(batch["seq"]) if batch else 0
