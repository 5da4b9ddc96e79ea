"""Dispatch processes find each other in `replicas`: each says every second that it is alive,
how many leases it granted and to whom (for the gauges), and learns its share of the pending
tasks among the live ones (`pool.Share`). Nothing else depends on a process staying alive:
leases live in the database and any process's sweep frees the abandoned ones (ADR 0008).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta

from services.dispatch.pool import Share
from shared.settings import Settings
from shared.store.mongo import Doc, ServiceDatabase, utcnow

# A process silent this long is gone for good: its document is deleted.
FORGET_AFTER = timedelta(hours=1)


class Replicas:
    def __init__(self, db: ServiceDatabase, settings: Settings) -> None:
        self.replicas = db["replicas"]
        self.alive = timedelta(seconds=settings.replica_alive_s)
        self.replica_id = secrets.token_hex(8)

    async def beat(self, leases: int, holders: Sequence[str]) -> Share:
        """Say this process is alive and what it holds; its share among the live ones."""
        now = utcnow()
        await self.replicas.update_one(
            {"_id": self.replica_id},
            {"$set": {"seen_at": now, "leases": leases, "holders": list(holders)}},
            upsert=True,
        )
        alive = sorted(d["_id"] for d in await self.live())
        if self.replica_id not in alive:
            return Share()
        return Share(alive.index(self.replica_id), len(alive))

    async def live(self) -> list[Doc]:
        since = utcnow() - self.alive
        return await self.replicas.find({"seen_at": {"$gt": since}}).to_list(None)

    async def forget_gone(self) -> int:
        """Delete the documents of processes silent for `FORGET_AFTER`."""
        gone = await self.replicas.delete_many({"seen_at": {"$lt": utcnow() - FORGET_AFTER}})
        return gone.deleted_count

    async def leave(self) -> None:
        """A graceful stop: the others' shares grow at their next beat."""
        await self.replicas.delete_one({"_id": self.replica_id})
