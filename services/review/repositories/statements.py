"""What scores and statements are counted from: the facts of every submission, read through
the indexes by annotator, vendor and project; and each vendor's minimum hourly wage
(`wages`)."""

from __future__ import annotations

from shared.security.audit import AuditLog
from shared.store.mongo import AsyncClientSession, Doc, ServiceDatabase, utcnow

FACT_FIELDS = (
    "project_id",
    "org_id",
    "vendor_id",
    "annotator_id",
    "day",
    "outcome",
    "credit",
    "agreement",
    "gold_score",
    "rework",
    "seconds_worked",
    "appeal",
    "stage",
)


class StatementRepository:
    def __init__(self, db: ServiceDatabase, audit: AuditLog) -> None:
        self.db = db
        self.audit = audit
        self.submissions = db["submissions"]
        self.wages = db["wages"]

    async def ensure_indexes(self) -> None:
        await self.submissions.create_index([("annotator_id", 1), ("created_at", 1)])
        await self.submissions.create_index([("vendor_id", 1), ("created_at", 1)])
        await self.submissions.create_index([("project_id", 1), ("created_at", 1)])

    async def facts(self, query: Doc) -> list[Doc]:
        """Submissions matching `query`, with the fields figures are counted from."""
        return await self.submissions.find(query, dict.fromkeys(FACT_FIELDS, 1)).to_list(None)

    async def minimum_wage(self, vendor_id: str) -> float | None:
        doc = await self.wages.find_one({"_id": vendor_id})
        return float(doc["hourly"]) if doc else None

    async def set_minimum_wage(self, vendor_id: str, hourly: float) -> None:
        async def work(session: AsyncClientSession) -> None:
            await self.wages.update_one(
                {"_id": vendor_id},
                {"$set": {"hourly": hourly, "at": utcnow()}},
                upsert=True,
                session=session,
            )
            await self.audit.record(
                session, "minimum_wage.set", vendor_id, details={"hourly": hourly}
            )

        await self.db.transaction(work)
