"""Retention per project: a batch fully delivered `privacy.retention.days_after_delivery`
days ago is deleted, as its client would delete it (every service's part, a certificate),
by `retention`; after `media_days_after_delivery` its media and packages go, after
`packages_days_after_delivery` its packages, each a deletion of those parts only (the
records stay, with a certificate of what went). The sweep runs in ingest's workers every
`project_retention_sweep_s`; a deletion already asked for is not asked for twice, so
replicas may sweep side by side."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from services.ingest.deletions import Deletions
from shared.events import EVERYTHING, DeletionPart
from shared.observability import BATCHES_EXPIRED
from shared.security.auth import Principal, Role
from shared.store.mongo import Doc, utcnow

log = logging.getLogger(__name__)

# Who a retention deletion names as having asked for it.
RETENTION = "retention"


def periods(retention: Doc) -> list[tuple[int, tuple[DeletionPart, ...]]]:
    """(days after delivery, what goes then) for each period the project sets; packages go
    with the media (a package may hold pictures), so a packages period no shorter than the
    media's adds nothing."""
    found: list[tuple[int, tuple[DeletionPart, ...]]] = []
    if (whole := retention.get("days_after_delivery")) is not None:
        found.append((whole, EVERYTHING))
    media = retention.get("media_days_after_delivery")
    if media is not None:
        found.append((media, ("media", "packages")))
    packages = retention.get("packages_days_after_delivery")
    if packages is not None and (media is None or packages < media):
        found.append((packages, ("packages",)))
    return found


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
            system = Principal(
                sub=RETENTION, org=project["org_id"], role=Role.OPERATOR, exp=int(time.time())
            )
            for days, parts in periods(project["privacy"]["retention"]):
                cutoff = now - timedelta(days=days)
                for batch in await self.deletions.repo.delivered_before(project["_id"], cutoff):
                    if await self.deletions.existing(None, batch["_id"], parts) is None:
                        await self.deletions.request(system, "batch", batch, parts)
                        started += 1
        if started:
            BATCHES_EXPIRED.inc(started)
            log.info("retention.batches_deleted", extra={"batches": started})
        return started
