"""Deliveries: packages requested (on demand, or the full one a sealed and fully accepted batch
gets by itself), claimed by a builder, then ready with where the zip is and what it holds."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from shared.errors import NotFound
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, utcnow

BUILD_CLAIM_S = 300


def full_delivery_id(batch_id: str) -> str:
    """One full delivery per batch, whatever the redeliveries."""
    return "dlv_" + hashlib.sha256(f"{batch_id}:full".encode()).hexdigest()[:20]


def new_delivery(batch: Doc, kind: str, options: dict[str, Any] | None) -> Doc:
    # Options left None are filled from the project when the delivery is built.
    return {
        "kind": kind,
        "batch_id": batch["_id"],
        "project_id": batch["project_id"],
        "org_id": batch["org_id"],
        "options": options,
        "status": "pending",
        "claimed_until": None,
        "created_at": utcnow(),
        "ready_at": None,
    }


class DeliveryRepository:
    def __init__(self, db: ServiceDatabase) -> None:
        self.db = db
        self.deliveries = db["deliveries"]

    async def ensure_indexes(self) -> None:
        await self.deliveries.create_index([("status", 1)])
        await self.deliveries.create_index([("org_id", 1), ("project_id", 1)])
        await self.deliveries.create_index([("batch_id", 1)])

    async def request_full(
        self, session: AsyncClientSession, batch: Doc, options: dict[str, Any] | None
    ) -> None:
        """The batch's full delivery, requested once however often this runs."""
        await self.deliveries.update_one(
            {"_id": full_delivery_id(batch["_id"])},
            {"$setOnInsert": new_delivery(batch, "full", options)},
            upsert=True,
            session=session,
        )

    async def request(self, batch: Doc, kind: str, options: dict[str, Any]) -> Doc:
        doc = {"_id": "dlv_" + secrets.token_hex(10), **new_delivery(batch, kind, options)}
        await self.deliveries.insert_one(doc)
        return doc

    async def get(self, org_id: str | None, delivery_id: str) -> Doc:
        """A delivery, if `org_id` (None for the operator) may see it; else 404."""
        doc = await self.deliveries.find_one({"_id": delivery_id})
        if doc is None or (org_id is not None and doc["org_id"] != org_id):
            raise NotFound("delivery")
        return doc

    async def of_org(self, org_id: str | None, project_id: str | None) -> list[Doc]:
        """The organisation's deliveries (everyone's for None), of a project or all, oldest
        first."""
        query: Doc = {}
        if org_id is not None:
            query["org_id"] = org_id
        if project_id is not None:
            query["project_id"] = project_id
        return await self.deliveries.find(query).sort("created_at", 1).to_list(10_000)

    async def claim_pending(self) -> Doc | None:
        """Claim a delivery to build; a claim left by a crashed builder expires."""
        now = utcnow()

        def claimable(doc: Doc) -> bool:
            return doc["status"] == "pending" and (
                doc.get("claimed_until") is None or doc["claimed_until"] < now
            )

        pending = await self.deliveries.find(
            {"status": "pending"}, {"status": 1, "claimed_until": 1}
        ).to_list(None)
        for candidate in filter(claimable, pending):
            claimed = await self.db.modify(
                self.deliveries,
                candidate["_id"],
                {"$set": {"claimed_until": now + timedelta(seconds=BUILD_CLAIM_S)}},
                claimable,
            )
            if claimed is not None:
                return claimed
        return None

    async def release_claim(self, delivery_id: str) -> None:
        await self.deliveries.update_one({"_id": delivery_id}, {"$set": {"claimed_until": None}})

    async def last_upto(self, batch_id: str) -> int:
        """Up to which sequence number the batch's ready deliveries reached (0: none yet)."""
        last = (
            await self.deliveries.find({"batch_id": batch_id, "status": "ready"}, {"upto_seq": 1})
            .sort("upto_seq", -1)
            .limit(1)
            .to_list(1)
        )
        return int(last[0]["upto_seq"]) if last else 0

    async def mark_ready(self, session: AsyncClientSession, delivery: Doc, details: Doc) -> bool:
        """Ready, with `details` (where the zip is, what it holds); False if another builder
        finished it first."""
        result = await self.deliveries.update_one(
            {"_id": delivery["_id"], "status": "pending"},
            {"$set": {"status": "ready", "ready_at": utcnow(), **details}},
            session=session,
        )
        return result.matched_count > 0
