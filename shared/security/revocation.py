"""Revoked credentials, known to every service.

Tokens are verified without a lookup, so revoking one must reach every service: ingest (which
issues tokens) publishes `token.revoked`; each service records it in its own database and
keeps the revoked ids in memory. Only one replica of a service consumes a given event, so
every replica re-reads the collection every `refresh_s`: a revocation takes effect on the
replica that consumed it at once, and on the others within `refresh_s`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from shared.events import TokenRevoked
from shared.store.mongo import AsyncClientSession, ServiceDatabase, utcnow

log = logging.getLogger(__name__)

READ_MARGIN = timedelta(seconds=30)


class Revocations:
    """The revoked token ids of one service process."""

    def __init__(self, database: ServiceDatabase, refresh_s: float = 2.0) -> None:
        self.collection = database["revoked_tokens"]
        self.refresh_s = refresh_s
        self._revoked: set[str] = set()
        self._seen_until = datetime(2000, 1, 1, tzinfo=UTC)

    def is_revoked(self, jti: str) -> bool:
        return jti in self._revoked

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("recorded_at")
        # A revoked token that has expired anyway needs no record (a day of slack for clocks).
        await self.collection.create_index("purge_at", expireAfterSeconds=0)
        await self.refresh()

    async def record(self, session: AsyncClientSession, event: TokenRevoked) -> None:
        """Apply a `token.revoked` event (in the caller's transaction)."""
        await self.collection.update_one(
            {"_id": event.jti},
            {
                "$setOnInsert": {
                    "recorded_at": utcnow(),
                    "purge_at": event.expires_at + timedelta(days=1),
                }
            },
            upsert=True,
            session=session,
        )

    def remember(self, event: TokenRevoked) -> None:
        """After the record committed: refuse the token in this process at once."""
        self._revoked.add(event.jti)

    async def refresh(self) -> None:
        """Learn the revocations other replicas recorded since the last read."""
        # Re-read a margin: transactions may commit out of the order of their timestamps.
        since = self._seen_until - READ_MARGIN
        cursor = self.collection.find({"recorded_at": {"$gte": since}}, {"recorded_at": 1})
        async for doc in cursor:
            self._revoked.add(doc["_id"])
            recorded = doc["recorded_at"]
            recorded = recorded if recorded.tzinfo else recorded.replace(tzinfo=UTC)
            self._seen_until = max(self._seen_until, recorded)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh()
            except Exception:
                log.warning("revocations.refresh_failed", exc_info=True)
