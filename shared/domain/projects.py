"""The project read model every consuming service keeps from `project.upserted`."""

from __future__ import annotations

import time
from collections.abc import Collection

from shared.events import ProjectUpserted
from shared.store.mongo import AsyncClientSession, ServiceDatabase

# The projects that ask new people to train or pass an exam (docs/onboarding.md).
ASKS_FOR_ONBOARDING = {
    "$or": [{"onboarding.training_tasks": {"$gt": 0}}, {"onboarding.exam_tasks": {"$gt": 0}}]
}


# How old a read of a project the hot paths (intake, views, task creation, model help) accept.
# A change to a project (classes, reasons, settings) then applies within this long in every
# process, and at once in the one that consumed it (`forget`); a read per event or per view
# was one database operation an image in each service.
RECENT_S = 5.0


class ProjectReadModel:
    """The newest version of each project, even if versions arrive out of order."""

    def __init__(self, database: ServiceDatabase) -> None:
        self.collection = database["projects"]
        self._cache: dict[str, tuple[float, ProjectUpserted]] = {}

    async def save(self, session: AsyncClientSession, event: ProjectUpserted) -> None:
        doc = event.model_dump(mode="json")
        await self.collection.update_one(
            {"_id": event.project_id, "version": {"$lt": event.version}},
            {"$set": doc},
            session=session,
        )
        await self.collection.update_one(
            {"_id": event.project_id}, {"$setOnInsert": doc}, upsert=True, session=session
        )

    def forget(self, event: ProjectUpserted) -> None:
        """After a new version committed: the next read goes to the database."""
        self._cache.pop(event.project_id, None)

    async def get(self, project_id: str, max_age_s: float = 0.0) -> ProjectUpserted | None:
        """The newest version known; `max_age_s` > 0 accepts one read that long ago (hot
        paths: a project change then takes up to that long to apply)."""
        cached = self._cache.get(project_id)
        if cached is not None and time.monotonic() - cached[0] < max_age_s:
            return cached[1]
        doc = await self.collection.find_one({"_id": project_id})
        if doc is None:
            return None
        doc.pop("_id", None)
        project = ProjectUpserted.model_validate(doc)
        self._cache[project_id] = (time.monotonic(), project)
        return project

    async def gated(
        self, vendor_id: str | None = None, org_id: str | None = None
    ) -> list[ProjectUpserted]:
        """The projects that ask new people to train or pass an exam: those a vendor works on,
        or a client's (neither: all)."""
        query: dict[str, object] = dict(ASKS_FOR_ONBOARDING)
        if vendor_id is not None:
            query["vendors.vendor_id"] = vendor_id
        if org_id is not None:
            query["org_id"] = org_id
        docs = await self.collection.find(query).sort("_id", 1).to_list(None)
        return [
            ProjectUpserted.model_validate({k: v for k, v in d.items() if k != "_id"}) for d in docs
        ]

    async def names(self, group_by: str, keys: Collection[str]) -> dict[str, str]:
        """Projects' or vendors' names by id, for pages (annotators are named by their subject)."""
        if group_by == "project":
            query = {"_id": {"$in": list(keys)}}
            return {d["_id"]: d["name"] async for d in self.collection.find(query, {"name": 1})}
        if group_by != "vendor":
            return {}
        names: dict[str, str] = {}
        query = {"vendors.vendor_id": {"$in": list(keys)}}
        async for doc in self.collection.find(query, {"vendor_names": 1}):
            names.update((k, v) for k, v in (doc.get("vendor_names") or {}).items() if k in keys)
        return names
