"""Dispatch's app factory: `python -m services.dispatch [all|api|worker]`."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from services.dispatch import api, consumers, limits_api, stats_api
from services.dispatch.claim_store import ClaimChain
from services.dispatch.leasing import Dispatcher
from services.dispatch.store import DispatchStore
from shared.observability import ANNOTATORS_ACTIVE, LEASES_EXPIRED, TASKS_BY_STATE
from shared.runtime import Runtime, Startup
from shared.web.app import create_app
from shared.web.pages import mount_pages

log = logging.getLogger(__name__)
# A full re-read of the pending tasks this often: a safety net (stale pool entries are dropped
# when their claim meets a taken slot, and incremental reads see what became pending).
FULL_SYNC_EVERY = 120  # pool syncs
WORK_CLOCK_FLUSH_S = 2.0
BEAT_EVERY_S = 1.0
ADOPT_EVERY = 2  # beats
COMPACT_EVERY = 5  # beats
# Counting reads every task: often enough for a dashboard, rare enough not to stall leases.
COUNT_EVERY_S = 60.0


def build_app(runtime: Runtime) -> FastAPI:
    store = DispatchStore(runtime)
    dispatcher = Dispatcher(store, ClaimChain(runtime), runtime.settings)

    async def lease_sweeper() -> None:
        """Abandoned tasks go back to the pool within TTL + one sweep interval."""
        while True:
            try:
                expired = await dispatcher.expire_leases()
                if expired:
                    LEASES_EXPIRED.inc(expired)
                    log.info("lease.expired", extra={"count": expired})
                await dispatcher.trim_journal()
            except Exception:
                log.exception("lease.sweep_failed")
            await asyncio.sleep(runtime.settings.lease_sweep_s)

    async def count_tasks() -> None:
        """Tasks by state and people at work, for the dashboard."""
        await asyncio.sleep(COUNT_EVERY_S / 4)  # not in the rush of a start
        while True:
            try:
                counts = await store.count_by_state(pending=len(dispatcher.pool))
                for state, n in counts.items():
                    TASKS_BY_STATE.labels(state).set(n)
                ANNOTATORS_ACTIVE.set(await store.annotators_holding_leases())
            except Exception:
                log.debug("tasks.count_failed", exc_info=True)
            await asyncio.sleep(COUNT_EVERY_S)

    async def pool_sync() -> None:
        """Offer what other processes created or freed (their own events reach only them);
        now and then re-read everything."""
        rounds = 0
        while True:
            await asyncio.sleep(runtime.settings.pool_sync_s)
            rounds += 1
            try:
                await dispatcher.sync(full=rounds % FULL_SYNC_EVERY == 0)
            except Exception:
                log.warning("pool.sync_failed", exc_info=True)

    async def flush_work_clock() -> None:
        while True:
            await asyncio.sleep(WORK_CLOCK_FLUSH_S)
            try:
                await dispatcher.clock.flush()
            except Exception:
                log.warning("work_clock.flush_failed", exc_info=True)

    async def keep_alive() -> None:
        """Say this process is alive (and learn its share); take over the leases of
        processes that went silent; the first process also takes done tasks off the open
        lists."""
        beats = 0
        while True:
            await asyncio.sleep(BEAT_EVERY_S)
            beats += 1
            try:
                await dispatcher.beat()
                if beats % ADOPT_EVERY == 0:
                    await dispatcher.adopt_silent()
                # One process takes done tasks off the open lists.
                if beats % COMPACT_EVERY == 0 and dispatcher.pool.share.index == 0:
                    await dispatcher.chain.compact()
            except Exception:
                log.warning("replica.beat_failed", exc_info=True)

    async def take_over_silent() -> None:
        await dispatcher.adopt_silent()

    startup = Startup(
        handlers=consumers.handlers(store, dispatcher),
        steps=[
            store.ensure_indexes,
            store.count_existing_tasks,
            dispatcher.beat,
            take_over_silent,
            dispatcher.full_sync,
        ],
        worker_loops=[count_tasks],
        # Every process that hands out leases answers for them, an API-only replica too.
        every_role_loops=[lease_sweeper, pool_sync, flush_work_clock, keep_alive],
        stop_steps=[dispatcher.clock.flush, dispatcher.leave],
    )
    app = create_app(
        runtime, startup, [api.router, limits_api.router, stats_api.router], title="Aviary dispatch"
    )
    mount_pages(app, runtime.settings, "label")
    app.state.store = store
    app.state.dispatcher = dispatcher
    return app
