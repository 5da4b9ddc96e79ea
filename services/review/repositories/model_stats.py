"""How people treated each model's proposals, per project (`model_stats`): counters that
submissions add to in the intake's transaction, so a redelivered submission (its event
already processed, its record already written) adds nothing twice."""

from __future__ import annotations

from collections.abc import Mapping

from services.review.domain import ModelKey
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase


class ModelStatsRepository:
    def __init__(self, db: ServiceDatabase) -> None:
        self.stats = db["model_stats"]

    async def ensure_indexes(self) -> None:
        await self.stats.create_index([("project_id", 1)])

    async def add(
        self, session: AsyncClientSession, counts: Mapping[ModelKey, Mapping[str, int]]
    ) -> None:
        """Add a group of submissions' counts: one write per project and model."""
        for (project_id, org_id, model), added in counts.items():
            await self.stats.update_one(
                {"_id": f"{project_id}:{model}"},
                {
                    "$inc": dict(added),
                    "$setOnInsert": {"project_id": project_id, "org_id": org_id, "model": model},
                },
                upsert=True,
                session=session,
            )

    async def of_project(self, project_id: str) -> list[Doc]:
        """The project's models, by name."""
        return await self.stats.find({"project_id": project_id}).sort("model", 1).to_list(None)
