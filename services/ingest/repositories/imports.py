"""URL imports: the import (its counts) and one record per URL (its status, attempts, error
and item). A URL's outcome is recorded once and counted on its import in one transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from pymongo import UpdateOne

from services.ingest.domain import new_id
from shared.errors import NotFound
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, utcnow


@dataclass(frozen=True)
class ImportOutcome:
    """How fetching one imported URL ended: `done` (with the item) or `failed` (with why)."""

    url: Doc
    status: str
    fields: Doc


def new_import(batch: Doc, urls: list[Doc]) -> tuple[Doc, list[Doc]]:
    """An import of `urls` into `batch`, and its URLs' records, all pending."""
    import_id = new_id("imp")
    doc = {
        "_id": import_id,
        "batch_id": batch["_id"],
        "project_id": batch["project_id"],
        "org_id": batch["org_id"],
        "total": len(urls),
        "pending": len(urls),
        "done": 0,
        "failed": 0,
        "created_at": utcnow(),
    }
    records = [
        {
            "_id": f"{import_id}:{i:06d}",
            "import_id": import_id,
            **url,
            "status": "pending",
            "attempts": 0,
            "error": None,
            "message": None,
            "item_id": None,
            "duplicate": False,
        }
        for i, url in enumerate(urls)
    ]
    return doc, records


class ImportRepository:
    def __init__(self, db: ServiceDatabase) -> None:
        self.db = db
        self.imports = db["imports"]
        self.import_urls = db["import_urls"]

    async def ensure_indexes(self) -> None:
        await self.imports.create_index([("batch_id", 1)])
        await self.import_urls.create_index([("import_id", 1)])

    async def add(self, session: AsyncClientSession, doc: Doc, records: list[Doc]) -> None:
        await self.imports.insert_one(doc, session=session)
        await self.import_urls.insert_many(records, session=session)

    async def get(self, org_id: str | None, import_id: str) -> Doc:
        doc = await self.imports.find_one({"_id": import_id})
        if doc is None or (org_id is not None and doc["org_id"] != org_id):
            raise NotFound("import")
        return doc

    async def unfinished(self, session: AsyncClientSession, batch_id: str) -> Doc | None:
        """An import into the batch still fetching, if any."""
        doc: Doc | None = await self.imports.find_one(
            {"batch_id": batch_id, "pending": {"$gt": 0}}, {"_id": 1}, session=session
        )
        return doc

    async def urls(self, import_id: str) -> list[Doc]:
        return await self.import_urls.find({"import_id": import_id}).sort("_id", 1).to_list(100_000)

    async def urls_by_id(self, url_ids: Sequence[str]) -> dict[str, Doc]:
        docs = await self.import_urls.find({"_id": {"$in": list(url_ids)}}).to_list(None)
        return {doc["_id"]: doc for doc in docs}

    async def count_attempts(self, url_ids: Sequence[str]) -> None:
        """One more attempt for each of these URLs, in one write."""
        await self.import_urls.update_many(
            {"_id": {"$in": list(url_ids)}}, {"$inc": {"attempts": 1}}
        )

    async def finish(self, outcomes: Sequence[ImportOutcome]) -> None:
        """Record each URL's outcome once and count them on their imports, in one transaction.

        A URL finished meanwhile (a redelivered event) is left as it is and not counted again.
        """
        first = {outcome.url["_id"]: outcome for outcome in reversed(outcomes)}

        async def work(session: AsyncClientSession) -> None:
            still = await self.import_urls.find(
                {"_id": {"$in": list(first)}, "status": "pending"}, {"_id": 1}, session=session
            ).to_list(None)
            finishing = [first[doc["_id"]] for doc in still]
            if not finishing:
                return
            now = utcnow()
            await self.import_urls.bulk_write(
                [
                    UpdateOne(
                        {"_id": o.url["_id"]},
                        {"$set": {"status": o.status, **o.fields, "finished_at": now}},
                    )
                    for o in finishing
                ],
                ordered=False,
                session=session,
            )
            per_import: dict[str, Counter[str]] = {}
            for o in finishing:
                per_import.setdefault(o.url["import_id"], Counter())[o.status] += 1
            for import_id, counts in sorted(per_import.items()):
                await self.imports.update_one(
                    {"_id": import_id},
                    {"$inc": {"pending": -counts.total(), **counts}},
                    session=session,
                )

        await self.db.transaction(work)
