"""A batch's progress over time: its burn-up, the pace of late and the finish it forecasts,
beside the project's deadline (`services/ingest/burnup.py` does the arithmetic)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from aviary.contracts.ingest import BurnupPoint, BurnupRead
from services.ingest.burnup import burnup
from services.ingest.deps import BatchesDep, ItemsDep, ProjectsDep
from shared.security.auth import Principal, Role, org_scope, require_roles
from shared.store.mongo import utcnow

router = APIRouter(prefix="/v1", tags=["batches"])

ClientOrOperator = Annotated[Principal, require_roles(Role.CLIENT, Role.OPERATOR)]


@router.get("/batches/{batch_id}/burnup", response_model=BurnupRead)
async def batch_burnup(
    batch_id: str,
    principal: ClientOrOperator,
    batches: BatchesDep,
    items: ItemsDep,
    projects: ProjectsDep,
) -> BurnupRead:
    """How many of the batch's items were done (accepted or dropped) by when, the pace of
    the last hour and the finish it gives; the total is the sealed count, else the items in."""
    batch = await batches.get(org_scope(principal), batch_id)
    project = await projects.get(None, batch["project_id"])
    counts = await batches.progress(batch_id)
    total = batch["item_count"] if batch["item_count"] is not None else counts["received"]
    result = burnup(await items.done_times(batch_id), total, utcnow())
    return BurnupRead(
        batch_id=batch_id,
        sealed=batch["item_count"] is not None,
        total=result.total,
        done=result.done,
        points=[BurnupPoint(at=at, done=done) for at, done in result.points],
        per_hour=round(result.per_hour, 2) if result.per_hour is not None else None,
        finish_at=result.finish_at,
        deadline=project.get("deadline"),
    )
