"""Webhooks: each `delivery.ready` POST to a client's URL, its attempts and their outcomes, and
when the next attempt is due. A sender holds one while it tries."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, utcnow


def new_webhook(delivery: Doc, url: str) -> Doc:
    now = utcnow()
    return {
        "_id": "whk_" + secrets.token_hex(10),
        "delivery_id": delivery["_id"],
        "org_id": delivery["org_id"],
        "project_id": delivery["project_id"],
        "url": url,
        "status": "pending",
        "attempts": [],
        "next_attempt_at": now,
        "created_at": now,
    }


class WebhookRepository:
    def __init__(self, db: ServiceDatabase) -> None:
        self.db = db
        self.webhooks = db["webhooks"]

    async def ensure_indexes(self) -> None:
        await self.webhooks.create_index([("status", 1), ("next_attempt_at", 1)])
        await self.webhooks.create_index([("delivery_id", 1)])

    async def add(self, delivery: Doc, url: str, session: AsyncClientSession | None = None) -> Doc:
        """A webhook for the delivery, due now."""
        doc = new_webhook(delivery, url)
        await self.webhooks.insert_one(doc, session=session)
        return doc

    async def of_delivery(self, delivery_id: str) -> list[Doc]:
        return (
            await self.webhooks.find({"delivery_id": delivery_id})
            .sort("created_at", 1)
            .to_list(1000)
        )

    async def claim_due(self, hold_s: float) -> Doc | None:
        """Take one due webhook, holding it for the length of an attempt."""
        now = utcnow()

        def due(doc: Doc) -> bool:
            return bool(doc["status"] == "pending" and doc["next_attempt_at"] <= now)

        candidates = await self.webhooks.find(
            {"status": "pending", "next_attempt_at": {"$lte": now}}, {"_id": 1}
        ).to_list(100)
        for candidate in candidates:
            hook = await self.db.modify(
                self.webhooks,
                candidate["_id"],
                {"$set": {"next_attempt_at": now + timedelta(seconds=hold_s)}},
                due,
            )
            if hook is not None:
                return hook
        return None

    async def record_attempt(
        self, webhook_id: str, attempt: Doc, status: str, next_attempt_at: datetime | None
    ) -> None:
        update: Doc = {"$push": {"attempts": attempt}, "$set": {"status": status}}
        if next_attempt_at is not None:
            update["$set"]["next_attempt_at"] = next_attempt_at
        await self.webhooks.update_one({"_id": webhook_id}, update)
