"""Gold items: an item marked with its known answer. A change commits with its `gold.updated`
event (dispatch mixes active ones into the work) and its audit entry."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection

from services.review.domain import Answer, envelope
from shared.errors import NotFound
from shared.events import GoldUpdated, ItemAnnotationsImported, ProjectUpserted
from shared.messaging.outbox import Outbox
from shared.security.audit import AuditLog
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, modify_by_id, utcnow


def gold_event(gold: Doc) -> GoldUpdated:
    return GoldUpdated(
        gold_id=gold["_id"],
        project_id=gold["project_id"],
        org_id=gold["org_id"],
        item_id=gold["item_id"],
        image=gold["image"],
        ontology_version=gold["ontology_version"],
        active=gold["active"],
        clip=gold.get("clip"),
    )


class GoldRepository:
    def __init__(self, db: ServiceDatabase, outbox: Outbox, audit: AuditLog) -> None:
        self.db = db
        self.outbox = outbox
        self.audit = audit
        self.gold = db["gold"]

    async def ensure_indexes(self) -> None:
        await self.gold.create_index([("project_id", 1)])

    async def answers(
        self, session: AsyncClientSession | None, ids: Collection[str]
    ) -> dict[str, Doc]:
        """The gold items by id, with their answers."""
        if not ids:
            return {}
        docs = await self.gold.find({"_id": {"$in": list(ids)}}, session=session).to_list(None)
        return {d["_id"]: d for d in docs}

    async def in_project(self, project_id: str) -> list[Doc]:
        return await self.gold.find({"project_id": project_id}).to_list(None)

    async def add(
        self,
        project: ProjectUpserted,
        seen: Doc,
        answer: Answer,
        by: str,
    ) -> Doc:
        """Mark an item, a clip or a part (`seen`: a submission of it) with its known answer
        (shapes, tracks or a transcript), and tell dispatch."""
        gold = {
            "_id": "gld_" + secrets.token_hex(10),
            "project_id": project.project_id,
            "org_id": project.org_id,
            "item_id": seen["item_id"],
            "image": seen["image"],
            "ontology_version": project.version,
            "answer": answer.annotation.model_dump(mode="json"),
            "clip": seen.get("clip"),
            "tracks": answer.tracks.model_dump(mode="json") if answer.tracks else None,
            "transcript": (
                answer.transcript.model_dump(mode="json") if answer.transcript else None
            ),
            "active": True,
            "created_by": by,
            "created_at": utcnow(),
        }

        async def work(session: AsyncClientSession) -> None:
            await self.gold.insert_one(gold, session=session)
            await self.outbox.add(session, envelope(gold_event(gold), gold["org_id"]))
            await self.audit.record(session, "gold.added", gold["_id"], orgs=[gold["org_id"]])

        await self.db.transaction(work)
        self.outbox.notify()
        return gold

    async def add_imported(
        self, session: AsyncClientSession, project: ProjectUpserted, event: ItemAnnotationsImported
    ) -> None:
        """An imported known answer for an item (in the caller's transaction): one gold per
        item and import source, replaced when the same source sends it again."""
        assert event.image is not None
        digest = hashlib.sha256(f"{event.item_id}|{event.source}".encode()).hexdigest()
        gold_id = "gld_" + digest[:20]
        gold: Doc = {
            "_id": gold_id,
            "project_id": project.project_id,
            "org_id": project.org_id,
            "item_id": event.item_id,
            "image": event.image.model_dump(mode="json"),
            "ontology_version": project.version,
            "answer": event.annotation.model_dump(mode="json"),
            "clip": None,
            "tracks": None,
            "transcript": None,
            "active": True,
            "created_by": event.source,
            "created_at": utcnow(),
        }
        await self.gold.replace_one({"_id": gold_id}, gold, upsert=True, session=session)
        await self.outbox.add(session, envelope(gold_event(gold), project.org_id))
        await self.audit.record(session, "gold.imported", gold_id, orgs=[project.org_id])

    async def retire(self, project_id: str, gold_id: str) -> None:
        """Out of rotation (its past scores stay)."""

        async def work(session: AsyncClientSession) -> None:
            gold = await modify_by_id(
                self.gold,
                gold_id,
                {"$set": {"active": False}},
                session=session,
                when=lambda doc: doc["project_id"] == project_id,
            )
            if gold is None:
                raise NotFound("gold item")
            await self.outbox.add(session, envelope(gold_event(gold), gold["org_id"]))
            await self.audit.record(session, "gold.retired", gold_id, orgs=[gold["org_id"]])

        await self.db.transaction(work)
        self.outbox.notify()
