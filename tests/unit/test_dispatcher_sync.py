"""The dispatcher's pool reads: what is offered while a full read is in flight is kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from services.dispatch.dispatcher import Dispatcher
from shared.settings import Settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def pending(task_id: str) -> dict[str, Any]:
    return {
        "_id": task_id,
        "item_id": f"item-{task_id}",
        "vendor_id": "v",
        "priority": 0,
        "deadline": T0,
        "created_at": T0,
        "status": "pending",
    }


class SlowReads:
    """A stand-in for the store: a full read that waits until told to answer."""

    def __init__(self) -> None:
        self.answer = asyncio.Event()

    async def load_pending(self) -> list[dict[str, Any]]:
        await self.answer.wait()
        return [pending("read")]

    def holds(self, task_id: str) -> bool:  # as `Leases` answers for a process holding none
        return False


async def test_a_task_offered_during_a_full_read_is_kept_once() -> None:
    store = SlowReads()
    dispatcher = Dispatcher(store, store, None, None, Settings())  # type: ignore[arg-type]
    sync = asyncio.create_task(dispatcher.sync(full=True))
    await asyncio.sleep(0)  # the read is in flight
    dispatcher.offer([pending("new")])
    store.answer.set()
    await asyncio.wait_for(sync, 2)
    assert "read" in dispatcher.pool and "new" in dispatcher.pool
    assert len(dispatcher.pool) == 2
