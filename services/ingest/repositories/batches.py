"""Batches and their counts. Uploads to one batch would all write the batch's document, so
their counts (received, submitted, accepted, imports) are spread over `COUNTER_SHARDS`
documents in `batch_counters`, summed when read. Sealing writes every shard, so it conflicts
with any upload still in flight: nothing is counted into a batch after its count was taken.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from services.ingest.domain import new_id
from services.ingest.repositories.recent import RecentReads
from shared.errors import Conflict, NotFound
from shared.events import DeliveryReady
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, modify_by_id, utcnow

COUNTER_SHARDS = 8  # uploads to one batch spread their counting over this many documents


class BatchRepository:
    def __init__(self, db: ServiceDatabase) -> None:
        self.batches = db["batches"]
        self.counters = db["batch_counters"]
        self._recent = RecentReads("batch", lambda batch_id: self.get(None, batch_id))

    async def ensure_indexes(self) -> None:
        await self.batches.create_index([("project_id", 1)])
        await self.counters.create_index([("batch_id", 1)])

    async def create(self, project: Doc, name: str) -> Doc:
        doc = {
            "_id": new_id("bat"),
            "project_id": project["_id"],
            "org_id": project["org_id"],
            "name": name,
            "status": "open",
            "item_count": None,  # fixed when sealed; until then see progress()
            "delivered": False,
            "deliveries": 0,
            "created_at": utcnow(),
            "sealed_at": None,
        }
        await self.batches.insert_one(doc)
        return doc

    async def get(self, org_id: str | None, batch_id: str) -> Doc:
        """A batch, if `org_id` (None for the operator) may see it; else 404."""
        doc = await self.batches.find_one({"_id": batch_id})
        if doc is None or doc.get("deleting") or (org_id is not None and doc["org_id"] != org_id):
            raise NotFound("batch")
        return doc

    async def recent(self, org_id: str, batch_id: str) -> Doc:
        """The batch as read at most a moment ago (see `RecentReads`), for uploads."""
        return await self._recent.get(org_id, batch_id)

    async def of_project(self, project_id: str) -> list[Doc]:
        return (
            await self.batches.find({"project_id": project_id, "deleting": None})
            .sort("created_at", 1)
            .to_list(10_000)
        )

    async def progress(self, batch_id: str) -> dict[str, int]:
        """Items received, submitted at least once, accepted and dropped, summed over counter
        shards."""
        totals = {
            "received": 0,
            "submitted": 0,
            "accepted": 0,
            "dropped": 0,
            "dropped_submitted": 0,  # of the dropped, those that had been submitted
        }
        async for shard in self.counters.find({"batch_id": batch_id}):
            for key in totals:
                totals[key] += int(shard.get(key, 0))
        return totals

    async def count_into_open(
        self, session: AsyncClientSession, batch: Doc, counter: str, n: int
    ) -> None:
        """Count into a random shard of an open batch, or refuse: the batch is sealed.

        Sealing writes every shard, so this transaction and a concurrent seal conflict and one
        of them retries: nothing is added to a batch after its count was taken.
        """
        await self.counters.update_one(
            {"_id": f"{batch['_id']}:{secrets.randbelow(COUNTER_SHARDS)}"},
            {"$inc": {counter: n}, "$setOnInsert": {"batch_id": batch["_id"]}},
            upsert=True,
            session=session,
        )
        current = await self.batches.find_one({"_id": batch["_id"]}, {"status": 1}, session=session)
        if current is None or current["status"] != "open":
            raise Conflict("batch_sealed", "the batch is sealed; open a new batch")

    async def count(
        self, session: AsyncClientSession, per_batch: Mapping[str, int], counter: str
    ) -> None:
        """Add to each batch's `counter`, one write per batch, whatever the number of items."""
        await self.count_many(
            session, {batch_id: {counter: n} for batch_id, n in per_batch.items()}
        )

    async def count_many(
        self, session: AsyncClientSession, per_batch: Mapping[str, Mapping[str, int]]
    ) -> None:
        """Add to each batch's counters (counter -> n), one write per batch.

        One shard per batch and group, picked at random: concurrent groups (and replicas)
        rarely write the same shard, and the progress read sums them all.
        """
        for batch_id, counts in sorted(per_batch.items()):
            if counts:
                await self.counters.update_one(
                    {"_id": f"{batch_id}:{secrets.randbelow(COUNTER_SHARDS)}"},
                    {"$inc": dict(counts), "$setOnInsert": {"batch_id": batch_id}},
                    upsert=True,
                    session=session,
                )

    async def uncount(
        self, session: AsyncClientSession, batch_id: str, counts: Mapping[str, int], units: int
    ) -> int:
        """A deleted item out of its batch's counts (`counts`: each counter's change), and
        out of a sealed batch's item and unit counts. Returns the records written."""
        await self.counters.update_one(
            {"_id": f"{batch_id}:{secrets.randbelow(COUNTER_SHARDS)}"},
            {"$inc": dict(counts), "$setOnInsert": {"batch_id": batch_id}},
            upsert=True,
            session=session,
        )
        sealed = await self.batches.update_one(
            {"_id": batch_id, "status": "sealed"},
            {"$inc": {"item_count": -1, "unit_count": -units}},
            session=session,
        )
        return 1 + sealed.modified_count

    async def mark_sealed(self, session: AsyncClientSession, batch: Doc) -> Doc | None:
        """The batch sealed now, or None if it was sealed already."""
        return await modify_by_id(
            self.batches,
            batch["_id"],
            {"$set": {"status": "sealed", "sealed_at": utcnow()}},
            session=session,
            when=lambda doc: doc["status"] == "open",
        )

    async def take_count(self, session: AsyncClientSession, batch: Doc) -> tuple[int, int]:
        """Fix the batch's item count: what its shards received. Writing every shard makes any
        upload still in flight conflict with the seal: one of the two transactions retries,
        so no item slips in uncounted. Returns the items and the units to accept (an image is
        one, a video one a clip: `extra_units` counts a video's clips past its first)."""
        received = extra = 0
        for shard in range(COUNTER_SHARDS):
            doc = await modify_by_id(
                self.counters,
                f"{batch['_id']}:{shard}",
                {
                    "$set": {"sealed": True},
                    "$setOnInsert": {
                        "batch_id": batch["_id"],
                        "received": 0,
                        "submitted": 0,
                        "accepted": 0,
                    },
                },
                upsert=True,
                session=session,
            )
            received += int(doc.get("received", 0)) if doc else 0
            extra += int(doc.get("extra_units", 0)) if doc else 0
        await self.batches.update_one(
            {"_id": batch["_id"]},
            {"$set": {"item_count": received, "unit_count": received + extra}},
            session=session,
        )
        return received, received + extra

    async def mark_delivered(self, session: AsyncClientSession, event: DeliveryReady) -> None:
        update: Doc = {"$inc": {"deliveries": 1}}
        if event.kind == "full":
            # The first full delivery starts the project's retention clock.
            update["$set"] = {"delivered": True}
            update["$min"] = {"delivered_at": utcnow()}
        await self.batches.update_one({"_id": event.batch_id}, update, session=session)
