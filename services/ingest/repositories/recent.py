"""Documents as read a moment ago, for the upload hot path (see `RecentReads`)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from shared.errors import NotFound
from shared.store.mongo import Doc

CACHE_S = 2.0
KEPT = 10_000


class RecentReads:
    """A batch or project as read at most `CACHE_S` ago, if `org_id` owns it.

    Safe because what uploads use from them does not go stale in ways that matter: ids and
    owners never change, a batch's status is checked again inside the upload's transaction,
    and a project edit reaches pre-annotation checks within `CACHE_S`.
    """

    def __init__(self, what: str, read: Callable[[str], Awaitable[Doc]]) -> None:
        self.what = what
        self.read = read
        self._read: dict[str, tuple[float, Doc]] = {}

    async def get(self, org_id: str, doc_id: str) -> Doc:
        hit = self._read.get(doc_id)
        now = time.monotonic()
        if hit is None or now - hit[0] > CACHE_S:
            hit = (now, await self.read(doc_id))
            if len(self._read) > KEPT:
                self._read.clear()
            self._read[doc_id] = hit
        if hit[1]["org_id"] != org_id:
            raise NotFound(self.what)
        return hit[1]
