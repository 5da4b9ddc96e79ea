"""Accepted items: the newest accepted annotation of each item (by item id), numbered by its
batch's sequence so deliveries read a batch in order, or only what is new."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase


class AcceptedItemRepository:
    def __init__(self, db: ServiceDatabase) -> None:
        self.accepted = db["accepted_items"]

    async def ensure_indexes(self) -> None:
        await self.accepted.create_index([("batch_id", 1), ("seq", 1)])

    async def known(self, session: AsyncClientSession, item_ids: Iterable[str]) -> set[str]:
        """Which of these items were accepted before."""
        return {
            doc["_id"]
            for doc in await self.accepted.find(
                {"_id": {"$in": list(item_ids)}}, {"_id": 1}, session=session
            ).to_list(None)
        }

    async def add(self, session: AsyncClientSession, docs: list[Doc]) -> None:
        await self.accepted.insert_many(docs, session=session)

    async def replace(self, session: AsyncClientSession, item_id: str, fields: Doc) -> None:
        """A newer accepted annotation of an item accepted before."""
        await self.accepted.update_one({"_id": item_id}, {"$set": fields}, session=session)

    async def in_range(self, batch_id: str, after: int, upto: int) -> AsyncIterator[Doc]:
        """The batch's items numbered in (after, upto], in order, streamed."""
        query = {"batch_id": batch_id, "seq": {"$gt": after, "$lte": upto}}
        async for doc in self.accepted.find(query).sort("seq", 1):
            yield doc
