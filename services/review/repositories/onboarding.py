"""Each person's onboarding and skill in a project (`onboarding`, under the annotator record's
id `<project>|<vendor>|<annotator>`): training done this round, exam attempts and their scores,
admission (by whom, why), skill overall and per class, and the feedback of training tasks
(`feedback`, by submission, shown to its annotator)."""

from __future__ import annotations

from services.review.repositories.annotators import record_id
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, utcnow


class OnboardingRepository:
    def __init__(self, db: ServiceDatabase) -> None:
        self.onboarding = db["onboarding"]
        self.feedback = db["feedback"]

    async def ensure_indexes(self) -> None:
        await self.onboarding.create_index([("project_id", 1), ("vendor_id", 1)])
        await self.onboarding.create_index([("vendor_id", 1), ("annotator_id", 1)])
        await self.feedback.create_index([("annotator_id", 1), ("created_at", -1)])

    async def get(
        self,
        session: AsyncClientSession | None,
        project_id: str,
        vendor_id: str,
        annotator_id: str,
        org_id: str = "",
    ) -> Doc:
        """The person's record, or a new one (not yet stored)."""
        rid = record_id(project_id, vendor_id, annotator_id)
        found = await self.onboarding.find_one({"_id": rid}, session=session)
        return found or {
            "_id": rid,
            "project_id": project_id,
            "org_id": org_id,
            "vendor_id": vendor_id,
            "annotator_id": annotator_id,
            "round": 0,
            "training_done": 0,
            "attempts": [],
            "admitted": False,
            "admitted_by": None,
            "reason": None,
            "retry_at": None,
            "skill": None,
            "class_skill": {},
            "outcomes": 0,
            "training_seconds": 0.0,
        }

    async def save(self, session: AsyncClientSession, doc: Doc) -> None:
        doc["updated_at"] = utcnow()
        await self.onboarding.replace_one({"_id": doc["_id"]}, doc, upsert=True, session=session)

    async def of_project(self, project_id: str, vendor_id: str | None) -> list[Doc]:
        query: Doc = {"project_id": project_id}
        if vendor_id is not None:
            query["vendor_id"] = vendor_id
        return await self.onboarding.find(query).sort("_id", 1).to_list(None)

    async def of_person(self, vendor_id: str, annotator_id: str) -> list[Doc]:
        query = {"vendor_id": vendor_id, "annotator_id": annotator_id}
        return await self.onboarding.find(query).sort("_id", 1).to_list(None)

    async def add_feedback(self, session: AsyncClientSession, doc: Doc) -> None:
        await self.feedback.replace_one({"_id": doc["_id"]}, doc, upsert=True, session=session)

    async def feedback_of(self, submission_id: str) -> Doc | None:
        return await self.feedback.find_one({"_id": submission_id})
