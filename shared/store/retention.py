"""Retention: how long the records that only keep the machinery safe are kept, in one place.

Business data (items, submissions, deliveries) stays until a client deletes it. The records
below exist only so that a crash, a redelivery or a stale view cannot lose or double work;
each is cheap, but kept forever they would outgrow the data they protect:

- `processed_events` (every consumer): the ids of events already applied, so a redelivery
  changes nothing. The broker redelivers within its retry schedule (minutes); a dead-lettered
  event was never applied, so replaying it later needs no marker. Kept 7 days.
- dispatch's `claims` (slot records, by their lease's `expires_at`) and `item_marks` (`at`):
  a slot matters while a view of its task may name it (seconds, or a lease's life), a
  submission's record until its review (a rejection reads it back), a mark while its item's
  copies are open. Kept 30 days (`claims_retention_s`). The date index on `claims` is the one
  the lease sweep reads too (ADR 0008), so retention costs the lease path nothing more.
- The audit log: entries move to object storage (gzipped JSON lines under
  `audit/<service>/`) after 90 days and the archives are deleted after two years.

- `tombstones` (every service): the SHA-256 of each id a deletion removed and when, so that
  an event about it made before the deletion is dropped (shared/store/erasure.py). Kept as
  long as the processed markers.

- `rollups` and `rollups_15m` (every service): the per-minute (and per quarter hour) figures
  the dashboard charts (shared/rollups.py). Kept 8 days (`rollup_retention_s`): a week in
  view, and a day more.

Idempotency records expire by their own TTL index (`shared/web/idempotency.py`, 24 hours), and the
outbox deletes what it has published.

Expired markers and claims are deleted by a sweep of each service's worker (every
`retention_sweep_s`), a page at a time through an index on the date, not by TTL indexes: the
embedded database's TTL monitor decodes every document of a TTL-indexed collection once a
minute under its global lock, which at 200,000 claims stalled every request for seconds. The
sweep's cost follows what has expired, not what is kept (tests/integration/test_growth.py).
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.security.audit import AuditLog
from shared.settings import Settings
from shared.store.mongo import Doc, ServiceDatabase, delete_older, utcnow
from shared.store.storage import ObjectStorage

log = logging.getLogger(__name__)

ARCHIVE_PAGE = 1000


@dataclass(frozen=True)
class Expiry:
    """Documents of `collection` go `seconds` after the date in `field`."""

    collection: str
    field: str
    seconds: int


def expiries(service: str, settings: Settings) -> list[Expiry]:
    kept = [
        Expiry("processed_events", "at", settings.processed_events_retention_s),
        Expiry("rollups", "minute", settings.rollup_retention_s),
        Expiry("rollups_15m", "minute", settings.rollup_retention_s),
        # A deleted id's tombstone: as long as an event about it may still be on its way.
        Expiry("tombstones", "at", settings.processed_events_retention_s),
    ]
    if service == "dispatch":
        kept += [
            Expiry("claims", "expires_at", settings.claims_retention_s),
            Expiry("item_marks", "at", settings.claims_retention_s),
        ]
    return kept


async def prepare_expiries(db: ServiceDatabase, kept: Sequence[Expiry]) -> None:
    """The date indexes the sweep reads through (sparse: not every document has the date)."""
    for expiry in kept:
        await db[expiry.collection].create_index(expiry.field, sparse=True)


async def sweep_expired(db: ServiceDatabase, kept: Sequence[Expiry], now: datetime) -> int:
    """Delete what has outlived its retention, a page at a time; returns how many."""
    deleted = 0
    for expiry in kept:
        deleted += await delete_older(
            db[expiry.collection], expiry.field, now - timedelta(seconds=expiry.seconds)
        )
    return deleted


def archive_key(service: str, first: Doc) -> str:
    """One archive per page, named by its first entry: a page written again after a crash
    (before its entries were deleted) lands on the same key."""
    stamp = first["at"].astimezone(UTC).strftime("%Y/%m/%d/%H%M%S")
    return f"audit/{service}/{stamp}-{first['_id']}.jsonl.gz"


def archive_time(key: str) -> datetime | None:
    """When an archive's first entry was written, read back from its key."""
    try:
        year, month, day, rest = key.split("/")[2:6]
        return datetime.strptime(f"{year}{month}{day}{rest[:6]}", "%Y%m%d%H%M%S").replace(
            tzinfo=UTC
        )
    except ValueError:
        return None


class AuditArchiver:
    """Moves old audit entries into object storage and deletes archives past their time."""

    def __init__(self, audit: AuditLog, storage: ObjectStorage, bucket: str, settings: Settings):
        self.audit = audit
        self.storage = storage
        self.bucket = bucket
        self.keep_in_db = timedelta(seconds=settings.audit_db_retention_s)
        self.keep_archives = timedelta(seconds=settings.audit_archive_retention_s)

    async def sweep(self, now: datetime | None = None) -> tuple[int, int]:
        """(entries archived, archives deleted)."""
        now = now or utcnow()
        moved = 0
        while page := await self.audit.oldest(now - self.keep_in_db, ARCHIVE_PAGE):
            body = "".join(json.dumps(entry, default=str) + "\n" for entry in page)
            key = archive_key(self.audit.service, page[0])
            await self.storage.put_bytes(
                self.bucket, key, gzip.compress(body.encode()), "application/gzip"
            )
            await self.audit.forget([entry["_id"] for entry in page])
            moved += len(page)
        deleted = 0
        for key in await self.storage.list_keys(self.bucket, f"audit/{self.audit.service}/"):
            written = archive_time(key)
            if written is not None and written < now - self.keep_archives:
                await self.storage.remove(self.bucket, key)
                deleted += 1
        if moved or deleted:
            log.info("audit.archived", extra={"entries": moved, "archives_deleted": deleted})
        return moved, deleted
