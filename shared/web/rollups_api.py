"""`GET /v1/rollups` on every service: its figures minute by minute (shared/rollups.py), for
the operator's charts. The operator's alone, as /metrics: they are the whole platform's."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from aviary.contracts.rollups import RollupMinute, Rollups
from shared.errors import AppError
from shared.rollups import window
from shared.security.auth import Principal, Role, require_roles
from shared.web.deps import RuntimeDep

Operator = Annotated[Principal, require_roles(Role.OPERATOR)]
LONGEST = timedelta(days=8)  # what is kept (rollup_retention_s): no more to ask for


def rollups_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["observability"])

    @router.get("/rollups", response_model=Rollups)
    async def rollups(
        _: Operator,
        runtime: RuntimeDep,
        since: datetime | None = None,
        until: datetime | None = None,
        step: Annotated[int, Query(ge=1, le=60)] = 1,
    ) -> Rollups:
        """Minute by minute in [since, until) (the last hour when not given), or `step`
        minutes a point (a week of minutes is 10,080 points; by 15, 672)."""
        start, end = window(since, until, timedelta(hours=1))
        if end <= start or end - start > LONGEST:
            raise AppError(
                "invalid_window",
                "`since` is before `until`, and they are at most 8 days apart",
                status_code=422,
            )
        minutes = await runtime.rollups.minutes(start, end, step)
        return Rollups(
            service=runtime.service,
            since=start,
            until=end,
            minutes=[RollupMinute(**m) for m in minutes],
        )

    return router
