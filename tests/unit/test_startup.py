"""A service's start-up is one ordered value: its own parts first, then what every service runs."""

from __future__ import annotations

from shared.events import RoutingKey
from shared.runtime import Runtime, Startup
from shared.security.revocation import Revocations
from shared.settings import Settings
from shared.web.app import with_common_parts
from shared.web.idempotency import IdempotencyStore


async def test_common_parts_follow_the_services_own_in_order() -> None:
    runtime = Runtime("review", Settings(), "api")

    async def prepare() -> None: ...

    async def own_loop() -> None: ...

    async def worker_loop() -> None: ...

    async def close() -> None: ...

    async def on_item(_: object) -> None: ...

    own = Startup(
        handlers={RoutingKey.ITEM_ACCEPTED: on_item},
        steps=[prepare],
        worker_loops=[worker_loop],
        every_role_loops=[own_loop],
        stop_steps=[close],
    )
    revocations = Revocations(runtime.db)
    idempotency = IdempotencyStore(runtime.db)
    whole = with_common_parts(runtime, own, revocations=revocations, idempotency=idempotency)
    try:
        assert list(whole.steps) == [
            prepare,
            revocations.ensure_indexes,
            runtime.audit.ensure_indexes,
            idempotency.ensure_indexes,
        ]
        assert list(whole.handlers) == [RoutingKey.ITEM_ACCEPTED, RoutingKey.TOKEN_REVOKED]
        assert list(whole.worker_loops) == [worker_loop]
        *loops, media_reads, rollups = whole.every_role_loops
        assert loops == [own_loop, revocations.run]
        assert media_reads.__name__ == "audit.media_reads"  # its notes written every second
        assert rollups.__name__ == "rollups"  # its figures added to the minute's
        assert list(whole.stop_steps) == [close, runtime.media_reads.flush]  # and at the end
        # The service's own value is left as it was written.
        assert list(own.steps) == [prepare] and list(own.handlers) == [RoutingKey.ITEM_ACCEPTED]
    finally:
        await runtime.mongo_client.close()
