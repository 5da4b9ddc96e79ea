"""Dispatch's app factory: `python -m services.dispatch [all|api|worker]`."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from services.dispatch import (
    api,
    consumers,
    erasure,
    flagged_api,
    limits_api,
    onboarding_api,
    personal,
    stats_api,
)
from services.dispatch.deps import DispatchParts
from services.dispatch.onboarding import REFRESH_S as ONBOARDING_REFRESH_S
from services.dispatch.stats_api import count_by_state
from shared.observability import ANNOTATORS_ACTIVE, LEASES_EXPIRED, TASKS_BY_STATE
from shared.runtime import Runtime, Startup, every
from shared.store.erasure import REFRESH_S as TOMBSTONE_REFRESH_S
from shared.web.app import create_app
from shared.web.pages import mount_pages

log = logging.getLogger(__name__)
BEAT_EVERY_S = 1.0
TIDY_EVERY_S = 5.0


def build_app(runtime: Runtime) -> FastAPI:
    settings = runtime.settings
    parts = DispatchParts.build(runtime)
    dispatcher, leases = parts.dispatcher, parts.leases
    syncs = 0

    async def sweep_leases() -> None:
        """Abandoned tasks go back to the pool within their expiry and one sweep."""
        if freed := await dispatcher.sweep():
            LEASES_EXPIRED.inc(freed)
            log.info("lease.expired", extra={"count": freed})

    async def sync_pool() -> None:
        """Offer what other processes created or freed; now and then re-read everything."""
        nonlocal syncs
        syncs += 1
        await dispatcher.sync(full=syncs % settings.pool_full_sync_every == 0)

    async def tidy() -> None:
        """One process (the first) takes done tasks off the open lists and forgets the
        documents of processes long gone."""
        if dispatcher.pool.share.index == 0:
            await leases.open_lists.compact()
            await parts.replicas.forget_gone()

    async def count_tasks() -> None:
        """Tasks by state and people at work, for the dashboard."""
        counts, working = await count_by_state(parts, pending=len(dispatcher.pool))
        for state, n in counts.items():
            TASKS_BY_STATE.labels(state).set(n)
        ANNOTATORS_ACTIVE.set(working)

    startup = Startup(
        erasure=erasure.plan(runtime.db, dispatcher, parts.work),
        handlers=consumers.handlers(parts.tasks, dispatcher, parts.onboarding),
        steps=[
            parts.tasks.ensure_indexes,
            parts.onboarding.repo.ensure_indexes,
            parts.onboarding.refresh,
            parts.work_store.ensure_indexes,
            parts.tasks.count_existing_tasks,
            dispatcher.beat,
            dispatcher.full_sync,
        ],
        worker_loops=[every(settings.task_count_s, count_tasks, name="tasks.count")],
        # Every process that hands out leases needs these, an API-only replica too.
        every_role_loops=[
            every(settings.lease_sweep_s, sweep_leases, name="lease.sweep"),
            every(settings.pool_sync_s, sync_pool, name="pool.sync"),
            every(settings.work_flush_s, parts.work.flush, name="work.flush"),
            every(BEAT_EVERY_S, dispatcher.beat, name="replica.beat"),
            # Deleted work, learnt by every process: its leases end (`Leases.held`).
            every(TOMBSTONE_REFRESH_S, runtime.tombstones.refresh, name="tombstones"),
            every(TIDY_EVERY_S, tidy, name="dispatch.tidy"),
            # Who is admitted where, as another process may have learnt it.
            every(ONBOARDING_REFRESH_S, parts.onboarding.refresh, name="onboarding.refresh"),
        ],
        stop_steps=[parts.work.flush, parts.replicas.leave],
    )
    app = create_app(
        runtime,
        startup,
        [
            api.router,
            limits_api.router,
            stats_api.router,
            flagged_api.router,
            onboarding_api.router,
        ],
        title="Aviary dispatch",
        personal=personal.collector(parts),
    )
    mount_pages(app, settings, "label")
    app.state.parts = parts
    return app
