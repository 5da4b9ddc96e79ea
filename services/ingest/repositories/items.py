"""Items: one per image per project (the id is derived from the bytes' sha256), with where the
object is stored and what other services have done with it (`submitted`, `accepted`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

from pymongo.errors import BulkWriteError

from shared.errors import NotFound
from shared.store.mongo import (
    AsyncClientSession,
    Doc,
    DuplicateKeyError,
    ServiceDatabase,
    modify_by_id,
    utcnow,
)

DUPLICATE_KEY = 11000


class ItemRepository:
    def __init__(self, db: ServiceDatabase) -> None:
        self.items = db["items"]

    async def ensure_indexes(self) -> None:
        await self.items.create_index([("batch_id", 1)])

    async def find(self, item_id: str) -> Doc | None:
        return await self.items.find_one({"_id": item_id})

    async def find_many(self, item_ids: list[str]) -> dict[str, Doc]:
        if not item_ids:
            return {}
        docs = await self.items.find({"_id": {"$in": item_ids}}).to_list(len(item_ids))
        return {d["_id"]: d for d in docs}

    async def get(self, org_id: str | None, item_id: str) -> Doc:
        """An item, if `org_id` (None for the operator) may see it; else 404."""
        doc = await self.find(item_id)
        if doc is None or doc.get("deleting") or (org_id is not None and doc["org_id"] != org_id):
            raise NotFound("item")
        return doc

    async def in_batch(self, batch_id: str, after: str | None, limit: int) -> list[Doc]:
        """A page of the batch's items in id order, after `after`."""
        query: Doc = {"batch_id": batch_id, "deleting": None}
        if after:
            query["_id"] = {"$gt": after}
        return await self.items.find(query).sort("_id", 1).limit(limit).to_list(limit)

    async def matchable(self, batch_id: str) -> list[Doc]:
        """The batch's items with what an import matches them by (file name, SHA-256) and
        what its events carry (ids, media, where the image is and its size; a video's
        frames)."""
        fields = dict.fromkeys(
            ("file_name", "project_id", "org_id", "batch_id", "media", "bucket", "object_key"),
            1,
        ) | dict.fromkeys(("width", "height", "format", "sha256"), 1)
        video = dict.fromkeys(("frame_count", "fps", "manifest_key"), 1)
        return await self.items.find({"batch_id": batch_id}, fields | video).to_list(None)

    async def set_preview_key(self, item_id: str, key: str) -> None:
        await self.items.update_one({"_id": item_id}, {"$set": {"preview_key": key}})

    async def add(self, session: AsyncClientSession, docs: list[Doc]) -> None:
        """Raises DuplicateKeyError if one of them was recorded first."""
        try:
            await self.items.insert_many(docs, session=session)
        except BulkWriteError as exc:
            # insert_many reports a duplicate id as a bulk error: say what it is.
            codes = {e.get("code") for e in exc.details.get("writeErrors", [])}
            if codes == {DUPLICATE_KEY}:
                raise DuplicateKeyError(str(exc), DUPLICATE_KEY) from exc
            raise

    async def flag_once(
        self, session: AsyncClientSession, items: Mapping[str, str], flag: str
    ) -> Counter[str]:
        """Set the items' progress flag (`submitted`, `accepted`) where not set yet; `items`
        maps each item to its batch (as the event says). Returns how many were flagged now,
        per batch. One write per batch, by `_id` (one `$in`), and no read: the cost stays
        flat as a project's items grow. An item named with another batch is not flagged."""
        by_batch: dict[str, list[str]] = {}
        for item_id, batch_id in items.items():
            by_batch.setdefault(batch_id, []).append(item_id)
        flagged: Counter[str] = Counter()
        now = utcnow()
        for batch_id, item_ids in sorted(by_batch.items()):
            result = await self.items.update_many(
                # A dropped item's progress stays where the drop left it.
                {
                    "_id": {"$in": item_ids},
                    "batch_id": batch_id,
                    flag: {"$ne": True},
                    "dropped": None,
                },
                {"$set": {flag: True, f"{flag}_at": now}},  # when: a batch's burn-up
                session=session,
            )
            if result.modified_count:
                flagged[batch_id] = result.modified_count
        return flagged

    async def done_times(self, batch_id: str) -> list[datetime]:
        """When each of the batch's items was accepted or dropped (its part of the delivery
        done), in order: a batch's burn-up. One indexed read by batch."""
        query = {"batch_id": batch_id, "$or": [{"accepted": True}, {"dropped": {"$ne": None}}]}
        fields = {"accepted_at": 1, "dropped.at": 1}
        docs = await self.items.find(query, fields).to_list(None)
        times = [(d.get("dropped") or {}).get("at") or d.get("accepted_at") for d in docs]
        return sorted(t for t in times if t is not None)

    async def drop(self, session: AsyncClientSession, item_id: str, dropped: Doc) -> Doc | None:
        """Mark the item dropped from its batch; the item as it was, or None when it was
        dropped before (or is unknown)."""
        return await modify_by_id(
            self.items,
            item_id,
            {"$set": {"dropped": dropped}},
            session=session,
            when=lambda doc: doc.get("dropped") is None,
            new=False,
        )

    async def accept_clips(
        self, session: AsyncClientSession, clips: Sequence[tuple[str, int, int]]
    ) -> list[str]:
        """Record accepted clips (item, index, clips in all) on their videos; returns the
        videos whose every clip is now accepted. By `_id`, one write a video."""
        by_item: dict[str, tuple[set[int], int]] = {}
        for item_id, index, count in clips:
            by_item.setdefault(item_id, (set(), count))[0].add(index)
        complete = []
        for item_id, (indexes, count) in sorted(by_item.items()):
            await self.items.update_one(
                {"_id": item_id},
                {"$addToSet": {"accepted_clips": {"$each": sorted(indexes)}}},
                session=session,
            )
            doc = await self.items.find_one(
                {"_id": item_id}, {"accepted_clips": 1}, session=session
            )
            if doc is not None and len(doc.get("accepted_clips", ())) >= count:
                complete.append(item_id)
        return complete
