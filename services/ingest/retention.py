"""Retention per project: a batch fully delivered `privacy.retention.days_after_delivery`
days ago is deleted, as its client would delete it (every service's part, a certificate),
by `retention`. The sweep runs in ingest's workers every `project_retention_sweep_s`; a
batch already being deleted is not asked for twice, so replicas may sweep side by side."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from services.ingest.deletions import Deletions
from shared.observability import BATCHES_EXPIRED
from shared.security.auth import Principal, Role
from shared.store.mongo import utcnow

log = logging.getLogger(__name__)

# Who a retention deletion names as having asked for it.
RETENTION = "retention"


class ProjectRetention:
    def __init__(self, deletions: Deletions) -> None:
        self.deletions = deletions

    async def run_once(self) -> None:
        await self.sweep()

    async def sweep(self, now: datetime | None = None) -> int:
        """Delete the batches past their project's retention; returns how many."""
        now = now or utcnow()
        started = 0
        for project in await self.deletions.repo.projects_keeping_for_a_while():
            days = project["privacy"]["retention"]["days_after_delivery"]
            cutoff = now - timedelta(days=days)
            system = Principal(
                sub=RETENTION, org=project["org_id"], role=Role.OPERATOR, exp=int(time.time())
            )
            for batch in await self.deletions.repo.delivered_before(project["_id"], cutoff):
                if await self.deletions.existing(None, batch["_id"]) is None:
                    await self.deletions.request(system, "batch", batch)
                    started += 1
        if started:
            BATCHES_EXPIRED.inc(started)
            log.info("retention.batches_deleted", extra={"batches": started})
        return started
