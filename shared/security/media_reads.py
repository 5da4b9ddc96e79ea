"""Every read of media by a person, in the audit log (`media.read`, docs/privacy.md).

A read happens in the browser, against object storage, with a presigned URL; what the platform
sees is the URL handed out. So each route that hands media URLs to a person notes which media
(an item's image, frames, recording or preview), for whom (the caller, taken when noted) and
for how long the URL lives. An entry a request would wait for halved dispatch's `next` on the
embedded database (two writes a lease instead of one), so the reads are kept in memory and
written every `FLUSH_S` and at shutdown, one entry per person per flush listing that
second's reads (`details.reads`; the target is the item when there is one). A process that
crashes loses at most that last second (the lease records, kept 30 days, still say who held
which task until when).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from shared.security.audit import AuditLog
from shared.security.auth import Principal, current_principal
from shared.store.mongo import Doc, utcnow

log = logging.getLogger(__name__)

ACTION = "media.read"
FLUSH_S = 1.0
# Reads kept while the database refuses them; beyond this the oldest go, with a warning.
MAX_PENDING = 100_000


class MediaReads:
    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit
        # Per reader: who they are, the organisations concerned, their reads.
        self._pending: dict[tuple[str, str], tuple[Principal | None, set[str], list[Doc]]] = {}
        self._count = 0

    def record(
        self, target: str, media: str, ttl_s: int, *, orgs: Iterable[str], **details: object
    ) -> None:
        """The caller of the current request was handed URLs of `target`'s `media` (e.g.
        `image`, `frames`, `audio`, `preview`) that live `ttl_s` seconds."""
        if self._count >= MAX_PENDING:
            log.warning("audit.media_reads_dropped", extra={"count": self._count})
            self._pending.clear()
            self._count = 0
        principal = current_principal.get()
        key = (principal.org, principal.sub) if principal else ("", self.audit.service)
        _, concerned, reads = self._pending.setdefault(key, (principal, set(), []))
        concerned.update(orgs)
        reads.append({"target": target, "media": media, "ttl_s": ttl_s, "at": utcnow(), **details})
        self._count += 1

    async def flush(self) -> None:
        """Write what was noted since the last flush, an entry per reader (kept for the next
        flush if the database refuses them)."""
        if not self._pending:
            return
        pending, self._pending, count, self._count = self._pending, {}, self._count, 0
        entries = [
            self.audit.entry(
                ACTION,
                reads[0]["target"] if len(reads) == 1 else f"{len(reads)} items",
                orgs=concerned,
                details={"reads": reads},
                actor=principal,
            )
            for principal, concerned, reads in pending.values()
        ]
        try:
            await self.audit.collection.insert_many(entries, ordered=False)
        except Exception:
            for key, (principal, concerned, reads) in pending.items():
                _, now_orgs, now_reads = self._pending.setdefault(key, (principal, set(), []))
                now_orgs.update(concerned)
                now_reads[:0] = reads
            self._count += count
            raise
