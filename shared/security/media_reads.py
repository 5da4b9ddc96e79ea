"""Every read of media by a person, in the audit log (`media.read`, docs/privacy.md).

A read happens in the browser, against object storage, with a presigned URL; what the platform
sees is the URL handed out. So each route that hands media URLs to a person notes which media
(the target: the item), for whom (the caller, taken when noted) and for how long the URL
lives. An entry a request would wait for halved dispatch's `next` on the embedded database
(two writes a lease instead of one), so entries are kept in memory and written together every
`FLUSH_S` and at shutdown: a process that crashes loses at most that last second of entries
(the lease records, kept 30 days, still say who held which task until when).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from shared.security.audit import AuditLog
from shared.store.mongo import Doc

log = logging.getLogger(__name__)

ACTION = "media.read"
FLUSH_S = 1.0
# Entries kept while the database refuses them; beyond this the oldest go, with a warning.
MAX_PENDING = 100_000


class MediaReads:
    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit
        self._pending: list[Doc] = []

    def record(
        self, target: str, media: str, ttl_s: int, *, orgs: Iterable[str], **details: object
    ) -> None:
        """The caller of the current request was handed URLs of `target`'s `media` (e.g.
        `image`, `frames`, `audio`, `preview`) that live `ttl_s` seconds."""
        entry = self.audit.entry(
            ACTION, target, orgs=orgs, details={"media": media, "ttl_s": ttl_s, **details}
        )
        self._pending.append(entry)
        if len(self._pending) > MAX_PENDING:
            dropped = len(self._pending) - MAX_PENDING
            del self._pending[:dropped]
            log.warning("audit.media_reads_dropped", extra={"count": dropped})

    async def flush(self) -> None:
        """Write what was noted since the last flush (kept for the next one if refused)."""
        if not self._pending:
            return
        entries, self._pending = self._pending, []
        try:
            await self.audit.collection.insert_many(entries, ordered=False)
        except Exception:
            self._pending[:0] = entries
            raise
