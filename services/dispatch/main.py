"""Dispatch's app factory: `python -m services.dispatch [all|api|worker]`."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from fastapi import FastAPI

from services.dispatch import api, consumers, limits_api, stats_api
from services.dispatch.leasing import Dispatcher
from services.dispatch.store import DispatchStore
from shared.observability import ANNOTATORS_ACTIVE, LEASES_EXPIRED, TASKS_BY_STATE
from shared.pages import mount_pages
from shared.runtime import Runtime
from shared.web import create_app

log = logging.getLogger(__name__)
FULL_SYNC_EVERY = 12  # pool syncs
WORK_CLOCK_FLUSH_S = 2.0
SHARE_EVERY_S = 1.0
# Counting reads every task: often enough for a dashboard, rare enough not to stall leases.
COUNT_EVERY_S = 60.0


def build_app(runtime: Runtime) -> FastAPI:
    store = DispatchStore(runtime)
    dispatcher = Dispatcher(store, runtime.settings)

    async def lease_sweeper() -> None:
        """Abandoned tasks go back to the pool within TTL + one sweep interval."""
        while True:
            try:
                expired = await dispatcher.expire_leases()
                if expired:
                    LEASES_EXPIRED.inc(expired)
                    log.info("lease.expired", extra={"count": expired})
            except Exception:
                log.exception("lease.sweep_failed")
            await asyncio.sleep(runtime.settings.lease_sweep_s)

    async def count_tasks() -> None:
        """Tasks by state, for the dashboard: the backlog every minute, the done ones (a read
        of most of the collection) every ten."""
        await asyncio.sleep(COUNT_EVERY_S / 4)  # not in the rush of a start
        rounds = 0
        while True:
            states = ["pending", "leased", "flagged"]
            if rounds % 10 == 0:
                states.append("submitted")
            rounds += 1
            try:
                for state, n in (await store.count_by_state(states)).items():
                    TASKS_BY_STATE.labels(state).set(n)
                ANNOTATORS_ACTIVE.set(await store.annotators_holding_leases())
            except Exception:
                log.debug("tasks.count_failed", exc_info=True)
            await asyncio.sleep(COUNT_EVERY_S)

    async def pool_sync() -> None:
        """Offer what other processes created or freed (their own events reach only them);
        now and then re-read everything, forgetting what others took."""
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

    async def keep_share() -> None:
        """Say this process is alive and learn how many others are: which tasks it prefers."""
        while True:
            await asyncio.sleep(SHARE_EVERY_S)
            try:
                await dispatcher.update_share()
            except Exception:
                log.debug("share.update_failed", exc_info=True)

    runtime.configure(
        consumers.handlers(store, dispatcher),
        on_start=[store.ensure_indexes, dispatcher.update_share, dispatcher.full_sync],
        loops=[lease_sweeper, count_tasks, pool_sync, flush_work_clock, keep_share],
        on_stop=[dispatcher.clock.flush, dispatcher.leave],
    )
    app = create_app(
        runtime, [api.router, limits_api.router, stats_api.router], title="Aviary dispatch"
    )
    mount_pages(app, runtime.settings, Path(__file__).parent / "ui", "label.html")
    app.state.store = store
    app.state.dispatcher = dispatcher
    return app
