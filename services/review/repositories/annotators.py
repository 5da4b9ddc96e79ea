"""What sampling needs per project and annotator, under `<project>|<vendor>|<annotator>` (two
vendors' people may share a name): how many they submitted (`annotators`) and their recent
human outcomes (`outcomes`). Two collections, so that recording submissions and deciding
reviews never write the same document."""

from __future__ import annotations

from collections.abc import Iterable

from pymongo import UpdateOne

from services.review import domain
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase


def record_id(project_id: str, vendor_id: str, annotator_id: str) -> str:
    return f"{project_id}|{vendor_id}|{annotator_id}"


class AnnotatorRepository:
    def __init__(self, db: ServiceDatabase) -> None:
        self.annotators = db["annotators"]
        self.outcomes = db["outcomes"]

    async def records(self, session: AsyncClientSession, ids: Iterable[str]) -> dict[str, Doc]:
        """Each record's `submitted` and `recent`, by record id (missing ones left out)."""
        wanted = {"_id": {"$in": list(set(ids))}}
        records: dict[str, Doc] = {}
        for collection in (self.annotators, self.outcomes):
            for r in await collection.find(wanted, session=session).to_list(None):
                records.setdefault(r["_id"], {}).update(r)
        return records

    async def count_submitted(self, session: AsyncClientSession, counted: dict[str, int]) -> None:
        """Add `counted[record id]` submissions to each record, in one write."""
        await self.annotators.bulk_write(
            [
                UpdateOne({"_id": rid}, {"$inc": {"submitted": n}}, upsert=True)
                for rid, n in counted.items()
            ],
            session=session,
        )

    async def remember(self, session: AsyncClientSession, sub: Doc, score: float) -> None:
        """The annotator's recent human outcomes, which raise their sampling rate if low."""
        await self.outcomes.update_one(
            {"_id": record_id(sub["project_id"], sub["vendor_id"], sub["annotator_id"])},
            {"$push": {"recent": {"$each": [score], "$slice": -domain.RECENT_WINDOW}}},
            upsert=True,
            session=session,
        )

    async def scores_of(
        self, vendor_id: str, annotator_id: str, project_ids: Iterable[str]
    ) -> list[Doc]:
        """One person's counts and recent outcomes in these projects (their own export)."""
        ids = [record_id(p, vendor_id, annotator_id) for p in set(project_ids)]
        wanted = {"_id": {"$in": ids}}
        return [
            doc
            for collection in (self.annotators, self.outcomes)
            for doc in await collection.find(wanted).to_list(None)
        ]
