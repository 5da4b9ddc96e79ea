"""Presigned uploads: the client PUTs the bytes straight into storage under a staging key,
then confirms; the record says which batch they are for and, once confirmed, which item they
became (confirming twice gives the same item)."""

from __future__ import annotations

from services.ingest.domain import new_id
from shared.errors import NotFound
from shared.store.mongo import Doc, ServiceDatabase, utcnow


class UploadRepository:
    def __init__(self, db: ServiceDatabase) -> None:
        self.uploads = db["uploads"]

    async def create(
        self, batch: Doc, file_name: str, staging_key: str, pre_annotation: Doc | None
    ) -> Doc:
        doc = {
            "_id": new_id("upl"),
            "batch_id": batch["_id"],
            "org_id": batch["org_id"],
            "file_name": file_name,
            "staging_key": staging_key,
            "pre_annotation": pre_annotation,
            "status": "pending",
            "item_id": None,
            "created_at": utcnow(),
        }
        doc["staging_key"] = f"{staging_key}/{doc['_id']}"
        await self.uploads.insert_one(doc)
        return doc

    async def get(self, org_id: str, upload_id: str) -> Doc:
        doc = await self.uploads.find_one({"_id": upload_id})
        if doc is None or doc["org_id"] != org_id:
            raise NotFound("upload")
        return doc

    async def confirm(self, upload_id: str, item_id: str) -> None:
        await self.uploads.update_one(
            {"_id": upload_id}, {"$set": {"status": "confirmed", "item_id": item_id}}
        )
