"""A service process's long-lived parts: clients opened once, consumers and background loops.

What a service starts is one value, `Startup`, that its main.py writes top to bottom and
`shared.web.app.create_app` completes with what every service runs; `Runtime.start` runs it in
the order it reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.events import RoutingKey
from shared.messaging import Broker, Consumer, Handler, queue_counts
from shared.messaging.outbox import Outbox
from shared.observability import QUEUE_DEPTH
from shared.rollups import Rollups
from shared.security.audit import AuditLog
from shared.security.media_reads import MediaReads
from shared.settings import Settings
from shared.store.erasure import Eraser, ErasurePlan, Tombstones
from shared.store.mongo import ServiceDatabase, connect_mongo, utcnow
from shared.store.retention import AuditArchiver, expiries, prepare_expiries, sweep_expired
from shared.store.storage import ObjectStorage

log = logging.getLogger(__name__)

ProcessRole = Literal["all", "api", "worker"]
Hook = Callable[[], Awaitable[None]]
BackgroundLoop = Callable[[], Coroutine[Any, Any, None]]


def every(seconds: float, step: Hook, *, name: str) -> BackgroundLoop:
    """A background loop running `step` every `seconds`; a failed round is logged as
    `<name>_failed` and the next one runs on time."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await step()
            except Exception:
                log.warning(f"{name}_failed", exc_info=True)

    loop.__name__ = name
    return loop


@dataclass(frozen=True)
class Startup:
    """A service's start-up and shutdown, in order.

    Start: wait for Mongo, the broker and retention's indexes, then run `steps` one after
    another (each retried until it succeeds), start the outbox relay and `every_role_loops`;
    in roles `worker` and `all` also `worker_loops`, the retention sweep and a consumer of
    `handlers`. Stop: stop consuming and the loops, flush the outbox, run `stop_steps`, close.
    """

    handlers: Mapping[RoutingKey, Handler] = field(default_factory=dict)
    steps: Sequence[Hook] = ()
    worker_loops: Sequence[BackgroundLoop] = ()
    # Loops every role needs (an API replica too): e.g. learning revoked credentials.
    every_role_loops: Sequence[BackgroundLoop] = ()
    stop_steps: Sequence[Hook] = ()
    # What a deletion removes from this service (shared/store/erasure.py).
    erasure: ErasurePlan | None = None


class Runtime:
    """Settings, Mongo, object storage, broker and outbox for one service process.

    `role` picks what runs: `api` serves HTTP only, `worker` runs consumers and loops (HTTP
    still answers health and metrics), `all` does both. The outbox relay runs in every role.
    """

    def __init__(self, service: str, settings: Settings, role: ProcessRole = "all") -> None:
        self.service = service
        self.settings = settings
        self.role = role
        self.mongo_client = connect_mongo(settings)
        self.db = ServiceDatabase(self.mongo_client, settings.database_name(service))
        self.storage = ObjectStorage(settings)
        self.broker = Broker(settings)
        self.outbox = Outbox(self.db, self.broker, settings.outbox_poll_s)
        self.audit = AuditLog(self.db, service)
        self.media_reads = MediaReads(self.audit)
        self.rollups = Rollups(self.db, service)
        self.tombstones = Tombstones(self.db)
        self.startup = Startup()
        self.consumer: Consumer | None = None
        self.started = asyncio.Event()
        self._starting: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def start_in_background(self, startup: Startup) -> None:
        """Start without blocking: HTTP answers (health, not ready) while dependencies come up."""
        self.startup = startup
        self._starting = asyncio.create_task(self.start(startup), name="start")

    async def start(self, startup: Startup) -> None:
        """Connect (waiting for dependencies, however long), prepare storage, start consuming."""
        self.startup = startup
        await self._wait_for("mongo", self.db.ping)
        await self._wait_for("broker", self.broker.connect)
        await self._wait_for("retention", self._prepare_retention)
        for step in startup.steps:
            await self._wait_for(getattr(step, "__name__", "start_step"), step)
        self._tasks.append(asyncio.create_task(self.outbox.run(), name="outbox-relay"))
        self._tasks.append(asyncio.create_task(self._nudge_transactions(), name="nudge"))
        for loop in startup.every_role_loops:
            self._tasks.append(asyncio.create_task(loop(), name=loop.__name__))
        if self.role in ("all", "worker"):
            for loop in [*startup.worker_loops, self._sweep_retention]:
                self._tasks.append(asyncio.create_task(loop(), name=loop.__name__))
            if startup.handlers:
                self.consumer = Consumer(self.broker, self.service, self._handlers(startup))
                await self.consumer.start()
                self._tasks.append(asyncio.create_task(self._measure_queues(), name="queues"))
        # What start-up loaded (a pool of pending tasks, caches) lives as long as the process:
        # kept out of the collector's full passes, which otherwise stop every request for
        # tens of milliseconds each time they walk it.
        gc.freeze()
        self.started.set()
        log.info("service.started", extra={"role": self.role})

    def _handlers(self, startup: Startup) -> dict[RoutingKey, Handler]:
        """The service's handlers, each dropping events about what was deleted after they
        were made, and the handler that deletes (when the service has a plan)."""
        if startup.erasure is None:
            return dict(startup.handlers)
        guarded = {key: self.tombstones.guard(h) for key, h in startup.handlers.items()}
        eraser = Eraser(
            self.service, self.db, self.storage, self.outbox, startup.erasure, self.tombstones
        )
        return guarded | {RoutingKey.DELETION_REQUESTED: eraser.handler()}

    async def stop(self) -> None:
        """Stop taking work, finish in-flight messages, flush the outbox once, close clients."""
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._starting
        if self.consumer is not None:
            await self.consumer.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.outbox.relay_once(), 5)
        for step in self.startup.stop_steps:
            with contextlib.suppress(Exception):
                await step()
        await self.broker.close()
        await self.mongo_client.close()
        log.info("service.stopped")

    async def _prepare_retention(self) -> None:
        """The indexes the retention sweep reads through, and the audit archive's bucket."""
        await prepare_expiries(self.db, expiries(self.service, self.settings))
        await self.storage.ensure_bucket(self.settings.audit_bucket)

    async def _sweep_retention(self) -> None:
        """Delete what has outlived its retention; move old audit entries to archives."""
        kept = expiries(self.service, self.settings)
        archiver = AuditArchiver(
            self.audit, self.storage, self.settings.audit_bucket, self.settings
        )
        while True:
            try:
                deleted = await sweep_expired(self.db, kept, utcnow())
                if deleted:
                    log.info("retention.swept", extra={"deleted": deleted})
                await archiver.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("retention.sweep_failed")
            await asyncio.sleep(self.settings.retention_sweep_s)

    async def _nudge_transactions(self, every_s: float = 10.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.db.nudge_transactions()
            except Exception:
                log.debug("transactions.nudge_failed", exc_info=True)

    async def _measure_queues(self, every_s: float = 10.0) -> None:
        """Keep the queue-depth gauges (consumer lag, dead letters) current."""
        while True:
            try:
                counts = await queue_counts(self.broker, self.service)
                QUEUE_DEPTH.labels(self.service, "main").set(counts["waiting"])
                QUEUE_DEPTH.labels(self.service, "dead_letter").set(counts["dead_letters"])
            except Exception:
                log.debug("queues.measure_failed", exc_info=True)
            await asyncio.sleep(every_s)

    async def check_dependencies(self, timeout_s: float = 2.0) -> dict[str, str]:
        """Probe every dependency at once, each for at most `timeout_s`: a probe of a database
        that is down must answer "not ready" quickly, not outlast the prober's own timeout."""

        async def check(fn: Callable[[], Awaitable[None]]) -> str:
            try:
                await asyncio.wait_for(fn(), timeout_s)
            except Exception as exc:
                return f"error: {type(exc).__name__}"
            return "ok"

        async def broker() -> None:
            if not self.broker.is_connected:
                raise ConnectionError("broker not connected")

        async def storage() -> None:
            await self.storage.ping(self.settings.images_bucket)

        mongo_state, broker_state, storage_state = await asyncio.gather(
            check(self.db.ping), check(broker), check(storage)
        )
        return {"mongo": mongo_state, "broker": broker_state, "storage": storage_state}

    async def _wait_for(self, what: str, probe: Callable[[], Awaitable[None]]) -> None:
        """Retry with capped back-off until `probe` succeeds: a dependency that is down delays
        readiness, it never crashes the process into a restart loop."""
        delay = 0.2
        attempt = 0
        while True:
            attempt += 1
            try:
                await probe()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(f"{what}.wait", extra={"attempt": attempt, "error": str(exc)[:300]})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
