"""Ingest's data: organisations, projects, batches, items (database `<ns>_ingest`)."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared.errors import AppError, Conflict, NotFound
from shared.events import (
    BatchSealed,
    DeliveryReady,
    Envelope,
    EventData,
    ImportRequested,
    ItemIngested,
    Ontology,
    ProjectUpserted,
    TokenRevoked,
)
from shared.observability import correlation_id
from shared.runtime import Runtime
from shared.security.auth import Principal
from shared.store.mongo import AsyncClientSession, Doc, modify_by_id, utcnow

CACHE_S = 2.0
DUPLICATE_KEY = 11000
COUNTER_SHARDS = 8  # uploads to one batch spread their counting over this many documents


@dataclass(frozen=True)
class ImportOutcome:
    """How fetching one imported URL ended: `done` (with the item) or `failed` (with why)."""

    url: Doc
    status: str
    fields: Doc


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def project_event(project: Doc) -> ProjectUpserted:
    return ProjectUpserted(
        project_id=project["_id"],
        org_id=project["org_id"],
        version=project["version"],
        name=project["name"],
        ontology=Ontology.model_validate(project["ontology"]),
        overlap=project["overlap"],
        vendors=project["vendors"],
        review=project["review"],
        reject_reasons=project["reject_reasons"],
        piece_rate=project["piece_rate"],
        priority=project["priority"],
        instructions=project["instructions"],
        deadline=project.get("deadline"),
        delivery_formats=project.get("delivery_formats", ["coco"]),
        include_images=project.get("include_images", False),
        include_people=project.get("include_people", False),
        webhook_url=project.get("webhook_url"),
        webhook_secret=project.get("webhook_secret"),
    )


class IngestStore:
    """All of ingest's Mongo calls; every state change and its event commit together."""

    def __init__(self, runtime: Runtime) -> None:
        self.db = runtime.db
        self.outbox = runtime.outbox
        self.orgs = runtime.db["orgs"]
        self.tokens = runtime.db["tokens"]
        self.audit = runtime.audit
        self.projects = runtime.db["projects"]
        self.batches = runtime.db["batches"]
        self.items = runtime.db["items"]
        self.counters = runtime.db["batch_counters"]
        self._recent: dict[tuple[str, str], tuple[float, Doc]] = {}
        self.imports = runtime.db["imports"]
        self.uploads = runtime.db["uploads"]
        self.import_urls = runtime.db["import_urls"]

    async def ensure_indexes(self) -> None:
        await self.projects.create_index([("org_id", 1)])
        await self.tokens.create_index([("org_id", 1), ("issued_at", -1)])
        await self.batches.create_index([("project_id", 1)])
        await self.items.create_index([("batch_id", 1)])
        await self.counters.create_index([("batch_id", 1)])
        await self.imports.create_index([("batch_id", 1)])
        await self.import_urls.create_index([("import_id", 1)])

    # ----- organisations -------------------------------------------------------------------

    async def create_org(self, name: str, kind: str, actor: Principal) -> Doc:
        org_id = new_id("org")
        doc = {"_id": org_id, "name": name, "kind": kind, "created_at": utcnow()}

        async def work(session: AsyncClientSession) -> None:
            await self.orgs.insert_one(doc, session=session)
            await self.audit.record(
                session, "org.created", org_id, orgs=[org_id], details={"kind": kind}, actor=actor
            )

        await self.db.transaction(work)
        return doc

    async def list_orgs(self) -> list[Doc]:
        return await self.orgs.find({}).to_list(10_000)

    async def get_org(self, org_id: str) -> Doc:
        doc = await self.orgs.find_one({"_id": org_id})
        if doc is None:
            raise NotFound("organisation")
        return doc

    # ----- tokens: issued ones are recorded (never their value) so they can be revoked ------

    async def record_token(self, claims: Principal, actor: Principal) -> Doc:
        doc = {
            "_id": claims.jti,
            "org_id": claims.org,
            "role": claims.role.value,
            "subject": claims.sub,
            "vendor_id": claims.vendor,
            "issued_at": utcnow(),
            "expires_at": datetime.fromtimestamp(claims.exp, UTC),
            "issued_by": actor.sub,
            "revoked_at": None,
        }

        async def work(session: AsyncClientSession) -> None:
            await self.tokens.insert_one(doc, session=session)
            await self.audit.record(
                session,
                "token.issued",
                claims.jti,
                orgs=[claims.org],
                details={"role": claims.role.value, "subject": claims.sub},
                actor=actor,
            )

        await self.db.transaction(work)
        return doc

    async def list_tokens(self, org_id: str | None, limit: int) -> list[Doc]:
        criteria = {} if org_id is None else {"org_id": org_id}
        return await self.tokens.find(criteria).sort("issued_at", -1).to_list(limit)

    async def get_token(self, org_id: str | None, token_id: str) -> Doc:
        criteria: Doc = {"_id": token_id}
        if org_id is not None:
            criteria["org_id"] = org_id
        doc = await self.tokens.find_one(criteria)
        if doc is None:
            raise NotFound("token")
        return doc

    async def revoke_token(self, token: Doc, actor: Principal) -> Doc:
        """Mark revoked and tell every service, in one transaction; revoking twice is a no-op."""
        if token["revoked_at"] is not None:
            return token
        revoked: Doc | None = None

        async def work(session: AsyncClientSession) -> None:
            nonlocal revoked
            revoked = await modify_by_id(
                self.tokens,
                token["_id"],
                {"$set": {"revoked_at": utcnow(), "revoked_by": actor.sub}},
                session=session,
                when=lambda doc: doc.get("revoked_at") is None,
            )
            if revoked is None:  # revoked concurrently: that transaction published it
                return
            event = TokenRevoked(
                jti=token["_id"], org_id=token["org_id"], expires_at=token["expires_at"]
            )
            await self.outbox.add(session, self._envelope(event, token["org_id"]))
            await self.audit.record(
                session, "token.revoked", token["_id"], orgs=[token["org_id"]], actor=actor
            )

        await self.db.transaction(work)
        self.outbox.notify()
        return revoked or await self.get_token(None, token["_id"])

    # ----- projects ------------------------------------------------------------------------

    async def create_project(self, org_id: str, fields: dict[str, Any], actor: Principal) -> Doc:
        vendor_ids = [v["vendor_id"] for v in fields["vendors"]]
        found = await self.orgs.count_documents({"_id": {"$in": vendor_ids}, "kind": "vendor"})
        if found != len(set(vendor_ids)):
            raise AppError(
                "unknown_vendor", "every vendor must be a registered vendor", status_code=422
            )
        now = utcnow()
        doc = {
            "_id": new_id("prj"),
            "org_id": org_id,
            "version": 1,
            **fields,
            "created_at": now,
            "updated_at": now,
        }

        async def work(session: AsyncClientSession) -> None:
            await self.projects.insert_one(doc, session=session)
            await self.outbox.add(session, self._envelope(project_event(doc), org_id))
            await self.audit.record(session, "project.created", doc["_id"], actor=actor)

        await self.db.transaction(work)
        self.outbox.notify()
        return doc

    async def update_project(self, current: Doc, fields: dict[str, Any], actor: Principal) -> Doc:
        """Replace the settings as the next version and publish it, in one transaction."""
        updated: Doc | None = None

        async def work(session: AsyncClientSession) -> None:
            nonlocal updated
            updated = await modify_by_id(
                self.projects,
                current["_id"],
                {"$set": {**fields, "updated_at": utcnow()}, "$inc": {"version": 1}},
                session=session,
            )
            assert updated is not None
            await self.outbox.add(
                session, self._envelope(project_event(updated), updated["org_id"])
            )
            await self.audit.record(
                session,
                "project.updated",
                updated["_id"],
                details={"version": updated["version"]},
                actor=actor,
            )

        await self.db.transaction(work)
        self.outbox.notify()
        assert updated is not None
        return updated

    async def recent(self, kind: str, org_id: str, doc_id: str) -> Doc:
        """A batch or project as read at most CACHE_S ago, for the upload hot path.

        Safe because what uploads use from them does not go stale in ways that matter: ids and
        owners never change, a batch's status is checked again inside the upload's
        transaction, and a project edit reaches pre-annotation checks within CACHE_S.
        """
        key = (kind, doc_id)
        hit = self._recent.get(key)
        now = time.monotonic()
        if hit is None or now - hit[0] > CACHE_S:
            getter = self.get_batch if kind == "batch" else self.get_project
            hit = (now, await getter(None, doc_id))
            if len(self._recent) > 10_000:
                self._recent.clear()
            self._recent[key] = hit
        if hit[1]["org_id"] != org_id:
            raise NotFound(kind)
        return hit[1]

    async def get_project(self, org_id: str | None, project_id: str) -> Doc:
        """A project, if `org_id` (None for the operator) may see it; else 404."""
        doc = await self.projects.find_one({"_id": project_id})
        if doc is None or (org_id is not None and doc["org_id"] != org_id):
            raise NotFound("project")
        return doc

    async def list_projects(self, org_id: str | None) -> list[Doc]:
        query = {} if org_id is None else {"org_id": org_id}
        return await self.projects.find(query).sort("created_at", 1).to_list(10_000)

    # ----- batches -------------------------------------------------------------------------

    async def create_batch(self, project: Doc, name: str) -> Doc:
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

    async def get_batch(self, org_id: str | None, batch_id: str) -> Doc:
        doc = await self.batches.find_one({"_id": batch_id})
        if doc is None or (org_id is not None and doc["org_id"] != org_id):
            raise NotFound("batch")
        return doc

    async def list_batches(self, project_id: str) -> list[Doc]:
        return (
            await self.batches.find({"project_id": project_id})
            .sort("created_at", 1)
            .to_list(10_000)
        )

    async def progress(self, batch_id: str) -> dict[str, int]:
        """Items received, submitted at least once and accepted, summed over counter shards."""
        totals = {"received": 0, "submitted": 0, "accepted": 0}
        async for shard in self.counters.find({"batch_id": batch_id}):
            for key in totals:
                totals[key] += int(shard.get(key, 0))
        return totals

    async def seal_batch(self, batch: Doc) -> Doc:
        """Seal once; sealing a sealed batch returns it unchanged (safe to retry)."""
        sealed: Doc | None = None

        async def work(session: AsyncClientSession) -> None:
            nonlocal sealed
            sealed = await modify_by_id(
                self.batches,
                batch["_id"],
                {"$set": {"status": "sealed", "sealed_at": utcnow()}},
                session=session,
                when=lambda doc: doc["status"] == "open",
            )
            if sealed is None:
                return
            unfinished = await self.imports.find_one(
                {"batch_id": batch["_id"], "pending": {"$gt": 0}}, {"_id": 1}, session=session
            )
            if unfinished is not None:
                raise Conflict(
                    "imports_pending",
                    f"URL import {unfinished['_id']} is still fetching; seal once it has finished",
                )
            # Writing every counter shard makes any upload still in flight conflict with the
            # seal: one of the two transactions retries, so no item slips in uncounted.
            received = 0
            for shard in range(COUNTER_SHARDS):
                doc = await modify_by_id(
                    self.counters,
                    f"{batch['_id']}:{shard}",
                    {"$set": {"sealed": True}, "$setOnInsert": self._counter_defaults(batch)},
                    upsert=True,
                    session=session,
                )
                received += int(doc.get("received", 0)) if doc else 0
            await self.batches.update_one(
                {"_id": batch["_id"]}, {"$set": {"item_count": received}}, session=session
            )
            sealed["item_count"] = received
            event = BatchSealed(
                batch_id=sealed["_id"],
                project_id=sealed["project_id"],
                org_id=sealed["org_id"],
                item_count=received,
            )
            await self.outbox.add(session, self._envelope(event, sealed["org_id"]))

        await self.db.transaction(work)
        if sealed is None:
            return await self.get_batch(None, batch["_id"])
        self.outbox.notify()
        return sealed

    @staticmethod
    def _counter_defaults(batch: Doc) -> Doc:
        return {"batch_id": batch["_id"], "received": 0, "submitted": 0, "accepted": 0}

    # ----- items ---------------------------------------------------------------------------

    async def find_item(self, item_id: str) -> Doc | None:
        return await self.items.find_one({"_id": item_id})

    async def find_items(self, item_ids: list[str]) -> dict[str, Doc]:
        if not item_ids:
            return {}
        docs = await self.items.find({"_id": {"$in": item_ids}}).to_list(len(item_ids))
        return {d["_id"]: d for d in docs}

    async def get_item(self, org_id: str | None, item_id: str) -> Doc:
        doc = await self.find_item(item_id)
        if doc is None or (org_id is not None and doc["org_id"] != org_id):
            raise NotFound("item")
        return doc

    async def set_preview_key(self, item_id: str, key: str) -> None:
        await self.items.update_one({"_id": item_id}, {"$set": {"preview_key": key}})

    async def list_items(self, batch_id: str, after: str | None, limit: int) -> list[Doc]:
        query: Doc = {"batch_id": batch_id}
        if after:
            query["_id"] = {"$gt": after}
        return await self.items.find(query).sort("_id", 1).limit(limit).to_list(limit)

    async def _count_into_open_batch(
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

    async def add_items(self, batch: Doc, items: list[tuple[Doc, ItemIngested]]) -> None:
        """Record items whose objects are stored, with their events, in one transaction.

        Group commit: one multipart request is one transaction, whatever its file count.
        Raises DuplicateKeyError if another request recorded one of them first.
        """

        async def work(session: AsyncClientSession) -> None:
            await self._count_into_open_batch(session, batch, "received", len(items))
            await self.items.insert_many([doc for doc, _ in items], session=session)
            await self.outbox.add(
                session, *(self._envelope(event, batch["org_id"]) for _, event in items)
            )

        try:
            await self.db.transaction(work)
        except BulkWriteError as exc:
            # insert_many reports a duplicate id as a bulk error: say what it is.
            codes = {e.get("code") for e in exc.details.get("writeErrors", [])}
            if codes == {DUPLICATE_KEY}:
                raise DuplicateKeyError(str(exc), DUPLICATE_KEY) from exc
            raise
        self.outbox.notify()

    # ----- presigned uploads ---------------------------------------------------------------

    async def create_upload(
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

    async def get_upload(self, org_id: str, upload_id: str) -> Doc:
        doc = await self.uploads.find_one({"_id": upload_id})
        if doc is None or doc["org_id"] != org_id:
            raise NotFound("upload")
        return doc

    async def confirm_upload(self, upload_id: str, item_id: str) -> None:
        await self.uploads.update_one(
            {"_id": upload_id}, {"$set": {"status": "confirmed", "item_id": item_id}}
        )

    # ----- URL imports ---------------------------------------------------------------------

    async def create_import(self, batch: Doc, urls: list[Doc]) -> Doc:
        """The import, one record per URL and one `import.requested` each, together."""
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
        events = [
            ImportRequested(
                import_id=import_id,
                url_id=r["_id"],
                batch_id=batch["_id"],
                project_id=batch["project_id"],
                org_id=batch["org_id"],
            )
            for r in records
        ]

        async def work(session: AsyncClientSession) -> None:
            await self._count_into_open_batch(session, batch, "imports", 1)
            await self.imports.insert_one(doc, session=session)
            await self.import_urls.insert_many(records, session=session)
            await self.outbox.add(session, *(self._envelope(e, batch["org_id"]) for e in events))

        await self.db.transaction(work)
        self.outbox.notify()
        return doc

    async def get_import(self, org_id: str | None, import_id: str) -> Doc:
        doc = await self.imports.find_one({"_id": import_id})
        if doc is None or (org_id is not None and doc["org_id"] != org_id):
            raise NotFound("import")
        return doc

    async def list_import_urls(self, import_id: str) -> list[Doc]:
        return await self.import_urls.find({"import_id": import_id}).sort("_id", 1).to_list(100_000)

    async def get_import_urls(self, url_ids: Sequence[str]) -> dict[str, Doc]:
        docs = await self.import_urls.find({"_id": {"$in": list(url_ids)}}).to_list(None)
        return {doc["_id"]: doc for doc in docs}

    async def count_import_attempts(self, url_ids: Sequence[str]) -> None:
        """One more attempt for each of these URLs, in one write."""
        await self.import_urls.update_many(
            {"_id": {"$in": list(url_ids)}}, {"$inc": {"attempts": 1}}
        )

    async def finish_import_urls(self, outcomes: Sequence[ImportOutcome]) -> None:
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

    # ----- read model fed by events --------------------------------------------------------

    async def _count_once(
        self, session: AsyncClientSession, item_ids: Sequence[str], flag: str
    ) -> None:
        """Set the items' progress flag once and count them in their batches' shards.

        Reads and writes by `_id` only (one `$in` each), and one counter write per batch,
        whatever the number of items: the cost of an event stays flat as a project's items
        grow.
        """
        fresh = await self.items.find(
            {"_id": {"$in": list(item_ids)}, flag: {"$ne": True}},
            {"batch_id": 1, "sha256": 1},
            session=session,
        ).to_list(None)
        if not fresh:
            return
        await self.items.update_many(
            {"_id": {"$in": [item["_id"] for item in fresh]}},
            {"$set": {flag: True}},
            session=session,
        )
        # One shard per batch and group, picked at random: concurrent groups (and replicas)
        # rarely write the same shard, and the progress read sums them all.
        per_batch = Counter(item["batch_id"] for item in fresh)
        for batch_id, n in sorted(per_batch.items()):
            await self.counters.update_one(
                {"_id": f"{batch_id}:{secrets.randbelow(COUNTER_SHARDS)}"},
                {"$inc": {flag: n}, "$setOnInsert": {"batch_id": batch_id}},
                upsert=True,
                session=session,
            )

    async def mark_submitted(self, session: AsyncClientSession, item_ids: Sequence[str]) -> None:
        await self._count_once(session, item_ids, "submitted")

    async def mark_accepted(self, session: AsyncClientSession, item_ids: Sequence[str]) -> None:
        await self._count_once(session, item_ids, "accepted")

    async def mark_delivered(self, session: AsyncClientSession, event: DeliveryReady) -> None:
        update: Doc = {"$inc": {"deliveries": 1}}
        if event.kind == "full":
            update["$set"] = {"delivered": True}
        await self.batches.update_one({"_id": event.batch_id}, update, session=session)

    @staticmethod
    def _envelope(event: EventData, org_id: str) -> Envelope:
        return Envelope.wrap(event, org_ids=(org_id,), correlation_id=correlation_id.get())
