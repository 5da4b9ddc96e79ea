"""Review's app factory: `python -m services.review [all|api|worker]`."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from services.review import (
    api,
    consumers,
    erasure,
    fair_work_api,
    gold_api,
    onboarding_api,
    personal,
    quality_api,
)
from services.review.deps import ReviewParts
from shared.runtime import Runtime, Startup, every
from shared.web.app import create_app
from shared.web.pages import mount_pages

log = logging.getLogger(__name__)
SYNC_S = 5.0
FULL_SYNC_EVERY = 12  # syncs
EXPIRE_EVERY_S = 30.0


def build_app(runtime: Runtime) -> FastAPI:
    parts = ReviewParts.build(runtime)
    desk = parts.desk

    syncs = 0

    async def sync_queues() -> None:
        """What other replicas queued; now and then everything, forgetting what they took."""
        nonlocal syncs
        syncs += 1
        await desk.sync(full=syncs % FULL_SYNC_EVERY == 0)

    async def expire_reviews() -> None:
        """Units whose reviewer left without deciding go back in the queue."""
        if freed := await desk.expire():
            log.info("review.lease_expired", extra={"count": freed})

    startup = Startup(
        erasure=erasure.plan(),
        handlers=consumers.handlers(
            runtime.db, runtime.outbox, parts.projects, parts.intake, desk, parts.gold
        ),
        steps=[
            parts.units.ensure_indexes,
            parts.submissions.ensure_indexes,
            parts.appeals.ensure_indexes,
            parts.gold.ensure_indexes,
            parts.statements.ensure_indexes,
            parts.model_stats.ensure_indexes,
            parts.onboarding.repo.ensure_indexes,
            desk.full_sync,
        ],
        worker_loops=[
            every(SYNC_S, sync_queues, name="queue.sync"),
            every(EXPIRE_EVERY_S, expire_reviews, name="review.expire"),
        ],
    )
    app = create_app(
        runtime,
        startup,
        [
            api.router,
            quality_api.router,
            fair_work_api.router,
            gold_api.router,
            onboarding_api.router,
        ],
        title="Aviary review",
        personal=personal.collector(parts),
    )
    mount_pages(app, runtime.settings, "review")
    app.state.parts = parts
    return app
