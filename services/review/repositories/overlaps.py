"""Items waiting for all their overlaps (consensus mode): which submissions are in so far,
under the item's id, until the last one arrives."""

from __future__ import annotations

from shared.store.mongo import AsyncClientSession, ServiceDatabase, modify_by_id


class OverlapRepository:
    def __init__(self, db: ServiceDatabase) -> None:
        self.overlaps = db["overlaps"]

    async def collect(
        self, session: AsyncClientSession, item_id: str, submission_id: str, project_id: str
    ) -> list[str]:
        """Add a submission to its item's; returns every submission of the item in so far."""
        waiting = await modify_by_id(
            self.overlaps,
            item_id,
            {
                "$addToSet": {"submission_ids": submission_id},
                "$set": {"project_id": project_id},  # a deletion finds it by its project
            },
            upsert=True,
            session=session,
        )
        assert waiting is not None  # upserted
        return list(waiting["submission_ids"])

    async def clear(self, session: AsyncClientSession, item_id: str) -> None:
        await self.overlaps.delete_one({"_id": item_id}, session=session)
