"""Every read of media by a person, in the audit log (`media.read`, docs/privacy.md).

A read happens in the browser, against object storage, with a presigned URL; what the platform
sees is the URL handed out. So each route that hands media URLs to a person records, before it
answers, which media (its target: the item, or the delivery), for whom and for how long the
URL lives. Concurrent reads share one insert (group commit, shared/store/batching.py), so the
busiest route, an annotator's `next`, pays a share of one write, and no answer leaves before
its entry is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from shared.security.audit import AuditLog
from shared.store.batching import Batcher
from shared.store.mongo import Doc

ACTION = "media.read"
# Entries per insert, and inserts on their way at once.
GROUP_MAX = 200
GROUPS_IN_FLIGHT = 2


class MediaReads:
    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit
        self._inserts: Batcher[Doc, None] = Batcher(
            self._insert, max_size=GROUP_MAX, in_flight=GROUPS_IN_FLIGHT
        )

    async def record(
        self, target: str, media: str, ttl_s: int, *, orgs: Iterable[str], **details: object
    ) -> None:
        """The caller of the current request was handed URLs of `target`'s `media` (e.g.
        `image`, `frames`, `audio`, `preview`, `delivery`) that live `ttl_s` seconds."""
        entry = self.audit.entry(
            ACTION, target, orgs=orgs, details={"media": media, "ttl_s": ttl_s, **details}
        )
        await self._inserts.submit(entry)

    async def _insert(self, entries: Sequence[Doc]) -> list[None]:
        await self.audit.collection.insert_many(list(entries), ordered=False)
        return [None] * len(entries)
