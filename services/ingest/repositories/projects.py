"""Projects, versioned: every change is the next version, published as `project.upserted` in
the transaction that saves it (the other services keep the versions they are sent)."""

from __future__ import annotations

from typing import Any

from services.ingest.domain import envelope, new_id
from services.ingest.repositories.recent import RecentReads
from shared.errors import NotFound
from shared.events import Ontology, ProjectUpserted
from shared.messaging.outbox import Outbox
from shared.security.audit import AuditLog
from shared.security.auth import Principal
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, modify_by_id, utcnow


def project_event(project: Doc) -> ProjectUpserted:
    return ProjectUpserted(
        project_id=project["_id"],
        org_id=project["org_id"],
        version=project["version"],
        name=project["name"],
        ontology=Ontology.model_validate(project["ontology"]),
        overlap=project["overlap"],
        vendors=project["vendors"],
        vendor_names=project.get("vendor_names") or {},
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
        media=project.get("media", "image"),
        video=project.get("video") or {},
        audio=project.get("audio") or {},
        assist=project.get("assist") or {},
        privacy=project.get("privacy") or {},
        onboarding=project.get("onboarding") or {},
    )


# Kept with the project, not with each version: a version lists settings, never secrets.
NOT_SNAPSHOTTED = {"_id", "org_id", "version", "created_at", "updated_at", "webhook_secret"}


def version_doc(project: Doc, actor: Principal) -> Doc:
    """A version as it was saved: its settings (secrets left out), when and by whom."""
    settings = {k: v for k, v in project.items() if k not in NOT_SNAPSHOTTED}
    endpoint = (settings.get("assist") or {}).get("endpoint")
    if endpoint:
        settings["assist"] = {**settings["assist"], "endpoint": {**endpoint, "secret": None}}
    return {
        "_id": f"{project['_id']}:{project['version']}",
        "project_id": project["_id"],
        "version": project["version"],
        "settings": settings,
        "saved_at": project["updated_at"],
        "saved_by": actor.sub,
    }


class ProjectRepository:
    def __init__(self, db: ServiceDatabase, outbox: Outbox, audit: AuditLog) -> None:
        self.db = db
        self.outbox = outbox
        self.audit = audit
        self.projects = db["projects"]
        self.versions = db["project_versions"]
        self._recent = RecentReads("project", lambda project_id: self.get(None, project_id))

    async def ensure_indexes(self) -> None:
        await self.projects.create_index([("org_id", 1)])
        await self.versions.create_index([("project_id", 1)])

    async def create(self, org_id: str, fields: dict[str, Any], actor: Principal) -> Doc:
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
            await self.versions.insert_one(version_doc(doc, actor), session=session)
            await self.outbox.add(session, envelope(project_event(doc), org_id))
            await self.audit.record(session, "project.created", doc["_id"], actor=actor)

        await self.db.transaction(work)
        self.outbox.notify()
        return doc

    async def update(self, current: Doc, fields: dict[str, Any], actor: Principal) -> Doc:
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
            await self.versions.insert_one(version_doc(updated, actor), session=session)
            await self.outbox.add(session, envelope(project_event(updated), updated["org_id"]))
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

    async def get(self, org_id: str | None, project_id: str) -> Doc:
        """A project, if `org_id` (None for the operator) may see it; else 404."""
        doc = await self.projects.find_one({"_id": project_id})
        if doc is None or doc.get("deleting") or (org_id is not None and doc["org_id"] != org_id):
            raise NotFound("project")
        return doc

    async def recent(self, org_id: str, project_id: str) -> Doc:
        """The project as read at most a moment ago (see `RecentReads`), for uploads."""
        return await self._recent.get(org_id, project_id)

    async def versions_of(self, project_id: str) -> list[Doc]:
        """The versions saved since versions were kept, oldest first."""
        query = {"project_id": project_id}
        return await self.versions.find(query).sort("version", 1).to_list(10_000)

    async def of_org(self, org_id: str | None) -> list[Doc]:
        """The organisation's projects (everyone's for None), oldest first."""
        query: Doc = {"deleting": None} | ({} if org_id is None else {"org_id": org_id})
        return await self.projects.find(query).sort("created_at", 1).to_list(10_000)
