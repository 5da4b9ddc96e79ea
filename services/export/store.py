"""Export's read model, deliveries and webhooks (database `<ns>_export`)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from shared.domain.projects import ProjectReadModel
from shared.errors import NotFound
from shared.events import BatchSealed, DeliveryReady, Envelope, ItemAccepted, ProjectUpserted
from shared.observability import correlation_id
from shared.runtime import Runtime
from shared.store.mongo import AsyncClientSession, Doc, modify_by_id, utcnow

BUILD_CLAIM_S = 300


def full_delivery_id(batch_id: str) -> str:
    """One full delivery per batch, whatever the redeliveries."""
    return "dlv_" + hashlib.sha256(f"{batch_id}:full".encode()).hexdigest()[:20]


def delivery_options(project: ProjectUpserted, overrides: dict[str, Any]) -> dict[str, Any]:
    """What goes into a package: the project's defaults, unless the request says otherwise."""
    return {
        "formats": sorted(set(overrides.get("formats") or project.delivery_formats)),
        "include_images": overrides.get("include_images", project.include_images),
        "include_people": project.include_people,
    }


class ExportStore:
    """All of export's Mongo calls."""

    def __init__(self, runtime: Runtime) -> None:
        self.db = runtime.db
        self.outbox = runtime.outbox
        self.audit = runtime.audit
        self.projects = ProjectReadModel(runtime.db)
        self.batches = runtime.db["batches"]
        self.accepted = runtime.db["accepted_items"]
        self.deliveries = runtime.db["deliveries"]
        self.webhooks = runtime.db["webhooks"]

    async def ensure_indexes(self) -> None:
        await self.accepted.create_index([("batch_id", 1), ("seq", 1)])
        await self.deliveries.create_index([("status", 1)])
        await self.deliveries.create_index([("org_id", 1), ("project_id", 1)])
        await self.deliveries.create_index([("batch_id", 1)])
        await self.webhooks.create_index([("status", 1), ("next_attempt_at", 1)])
        await self.webhooks.create_index([("delivery_id", 1)])

    # ----- events in -----------------------------------------------------------------------

    async def seal_batch(self, session: AsyncClientSession, event: BatchSealed) -> None:
        batch = await modify_by_id(
            self.batches,
            event.batch_id,
            {
                "$set": {"sealed": True, "item_count": event.item_count},
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
        await self._request_full_delivery_if_complete(session, batch)

    async def accept_items(
        self, session: AsyncClientSession, events: Sequence[ItemAccepted]
    ) -> None:
        """Keep the newest accepted annotation per item, numbered by its batch's sequence.

        The items of one batch in this group share one number, taken in the transaction that
        saves them, so a delivery that read the batch's sequence N sees every item numbered
        up to N: incremental deliveries neither skip nor repeat. Reads and writes go by `_id`
        (one `$in` per batch), so the cost of an event stays flat as the batch grows.
        """
        by_batch: dict[str, dict[str, ItemAccepted]] = {}
        for event in events:  # the later event for an item wins, as it would one by one
            by_batch.setdefault(event.batch_id, {})[event.item_id] = event
        for batch_id, latest in by_batch.items():
            await self._accept_into_batch(session, batch_id, latest)

    async def _accept_into_batch(
        self, session: AsyncClientSession, batch_id: str, latest: dict[str, ItemAccepted]
    ) -> None:
        first = next(iter(latest.values()))
        known = {
            doc["_id"]
            for doc in await self.accepted.find(
                {"_id": {"$in": list(latest)}}, {"_id": 1}, session=session
            ).to_list(None)
        }
        fresh = [item_id for item_id in latest if item_id not in known]
        batch = await modify_by_id(
            self.batches,
            batch_id,
            {
                "$inc": {"seq": 1, "accepted_count": len(fresh)},
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
        now = utcnow()
        fields = {
            item_id: {**event.model_dump(mode="json"), "seq": batch["seq"], "accepted_at": now}
            for item_id, event in latest.items()
        }
        if fresh:
            await self.accepted.insert_many(
                [{"_id": item_id, **fields[item_id]} for item_id in fresh], session=session
            )
        for item_id in known:
            await self.accepted.update_one(
                {"_id": item_id}, {"$set": fields[item_id]}, session=session
            )
        await self._request_full_delivery_if_complete(session, batch)

    async def _request_full_delivery_if_complete(
        self, session: AsyncClientSession, batch: Doc
    ) -> None:
        """`batch` as this transaction left it."""
        if not batch.get("sealed"):
            return
        if batch["accepted_count"] < batch["item_count"]:
            return
        project = await self.projects.get(batch["project_id"])
        options = delivery_options(project, {}) if project is not None else None
        await self.deliveries.update_one(
            {"_id": full_delivery_id(batch["_id"])},
            {"$setOnInsert": self._new_delivery(batch, "full", options)},
            upsert=True,
            session=session,
        )

    @staticmethod
    def _new_delivery(batch: Doc, kind: str, options: dict[str, Any] | None) -> Doc:
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

    # ----- deliveries ----------------------------------------------------------------------

    async def get_batch(self, org_id: str | None, batch_id: str) -> Doc:
        batch = await self.batches.find_one({"_id": batch_id})
        if batch is None or (org_id is not None and batch["org_id"] != org_id):
            raise NotFound("batch")
        return batch

    async def request_delivery(self, batch: Doc, kind: str, options: dict[str, Any]) -> Doc:
        doc = {"_id": "dlv_" + secrets.token_hex(10), **self._new_delivery(batch, kind, options)}
        await self.deliveries.insert_one(doc)
        return doc

    async def get_delivery(self, org_id: str | None, delivery_id: str) -> Doc:
        doc = await self.deliveries.find_one({"_id": delivery_id})
        if doc is None or (org_id is not None and doc["org_id"] != org_id):
            raise NotFound("delivery")
        return doc

    async def list_deliveries(self, org_id: str | None, project_id: str | None) -> list[Doc]:
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

    async def sequence_range(self, delivery: Doc) -> tuple[int, int]:
        """The items a delivery holds: sequence numbers in (after, upto]."""
        batch = await self.batches.find_one({"_id": delivery["batch_id"]})
        upto = int(batch["seq"]) if batch else 0
        after = 0
        if delivery["kind"] == "incremental":
            last = (
                await self.deliveries.find(
                    {"batch_id": delivery["batch_id"], "status": "ready"}, {"upto_seq": 1}
                )
                .sort("upto_seq", -1)
                .limit(1)
                .to_list(1)
            )
            after = int(last[0]["upto_seq"]) if last else 0
        return after, upto

    async def accepted_items(self, batch_id: str, after: int, upto: int) -> AsyncIterator[Doc]:
        query = {"batch_id": batch_id, "seq": {"$gt": after, "$lte": upto}}
        async for doc in self.accepted.find(query).sort("seq", 1):
            yield doc

    async def mark_ready(
        self, delivery: Doc, event: DeliveryReady, details: Doc, webhook_url: str | None
    ) -> None:
        """Ready, announced on the bus and queued for the client's webhook: all or nothing."""

        async def work(session: AsyncClientSession) -> None:
            result = await self.deliveries.update_one(
                {"_id": delivery["_id"], "status": "pending"},
                {"$set": {"status": "ready", "ready_at": utcnow(), **details}},
                session=session,
            )
            if result.matched_count == 0:
                return  # another builder finished it first and announced it
            await self.outbox.add(
                session,
                Envelope.wrap(
                    event, org_ids=(delivery["org_id"],), correlation_id=correlation_id.get()
                ),
            )
            if webhook_url:
                await self.webhooks.insert_one(
                    self._new_webhook(delivery, webhook_url), session=session
                )

        await self.db.transaction(work)
        self.outbox.notify()

    # ----- webhooks ------------------------------------------------------------------------

    @staticmethod
    def _new_webhook(delivery: Doc, url: str) -> Doc:
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

    async def resend_webhook(self, delivery: Doc, url: str) -> Doc:
        doc = self._new_webhook(delivery, url)
        await self.webhooks.insert_one(doc)
        return doc

    async def list_webhooks(self, delivery_id: str) -> list[Doc]:
        return (
            await self.webhooks.find({"delivery_id": delivery_id})
            .sort("created_at", 1)
            .to_list(1000)
        )

    async def claim_due_webhook(self, hold_s: float) -> Doc | None:
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
