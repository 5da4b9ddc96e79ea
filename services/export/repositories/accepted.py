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

    async def known(self, session: AsyncClientSession, item_ids: Iterable[str]) -> dict[str, bool]:
        """Which of these items (units) were seen before: accepted (False) or dropped (True)."""
        return {
            doc["_id"]: "dropped" in doc
            for doc in await self.accepted.find(
                {"_id": {"$in": list(item_ids)}}, {"_id": 1, "dropped": 1}, session=session
            ).to_list(None)
        }

    async def drop(
        self, session: AsyncClientSession, units: list[str], batch_id: str, dropped: Doc
    ) -> tuple[int, int]:
        """Mark an item's units dropped: those accepted leave every later delivery (they lose
        their sequence number), the others are kept out of it when accepted after. Returns
        how many units this dropped, and how many of them had been accepted."""
        known = await self.known(session, units)
        accepted = [unit for unit, was_dropped in known.items() if not was_dropped]
        if accepted:
            await self.accepted.update_many(
                {"_id": {"$in": accepted}},
                {"$set": {"dropped": dropped}, "$unset": {"seq": ""}},
                session=session,
            )
        if fresh := [unit for unit in units if unit not in known]:
            await self.accepted.insert_many(
                [{"_id": unit, "batch_id": batch_id, "dropped": dropped} for unit in fresh],
                session=session,
            )
        return len(accepted) + len(fresh), len(accepted)

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
